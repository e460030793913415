// KaryoEval
