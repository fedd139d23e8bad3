VALUE = "imported through the function's own PYTHONPATH"
