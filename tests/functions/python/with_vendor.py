import vendored_dep  # found only through PYTHONPATH=/var/task/vendor (the function's Environment)


def handler(event, context):
    return {"value": vendored_dep.VALUE, "file": vendored_dep.__file__}
