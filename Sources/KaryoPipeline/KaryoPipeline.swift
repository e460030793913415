// KaryoPipeline
