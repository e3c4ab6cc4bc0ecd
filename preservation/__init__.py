"""The preservation science, pure functions on numbers or NumPy arrays: psychrometrics, mould
models, decay indices, wood EMC, climate profiles and compliance."""
