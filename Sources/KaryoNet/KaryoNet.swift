// KaryoNet
