import lambent_no_such_module  # noqa: F401  (Runtime.ImportModuleError at Init)


def handler(event, context):
    return "unreachable"
