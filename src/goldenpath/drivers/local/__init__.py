"""The local runtime: builds (:mod:`.build`), supervised processes (:mod:`.supervisor`),
the HAProxy router (:mod:`.router`), composed into a :class:`~goldenpath.drivers.base.RuntimeDriver`
by :mod:`.driver`. Everything it writes lives under the data directory."""
