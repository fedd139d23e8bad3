def handler(event, context)
    return "a syntax error: the colon is missing"
