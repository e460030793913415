print("karyocount")
