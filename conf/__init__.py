"""keepalived.conf: lexer, preprocessor, parser, typed model, validation, lint and dump."""
