"""The ``rotasim`` command line: parse, one library call, print."""
