// KaryoWatch
