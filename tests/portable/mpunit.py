# The little that portable tests need beyond `assert`, on CPython and on the
# MicroPython VM alike (pytest is not available on the VM).


class raises:
    """with raises(ValueError): ... passes only if the block raises that type."""

    def __init__(self, exc_type):
        self.exc_type = exc_type
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("did not raise " + self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        return True
