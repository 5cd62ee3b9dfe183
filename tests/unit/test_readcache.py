"""The read cache: a value only for the stamp it was stored with, least recently used out
first beyond the capacity (by weight)."""

from meterbill.db.readcache import ReadCache


def test_a_value_is_served_only_for_its_own_stamp() -> None:
    cache = ReadCache(capacity=10)
    cache.put("a", (1, 0, 2), "figures")
    assert cache.get("a", (1, 0, 2)) == "figures"
    assert cache.get("a", (1, 0, 3)) is None
    assert cache.get("b", (1, 0, 2)) is None
    cache.put("a", (1, 0, 3), "newer")
    assert cache.get("a", (1, 0, 2)) is None
    assert cache.get("a", (1, 0, 3)) == "newer"
    assert (cache.hits, cache.misses) == (2, 3)


def test_the_least_recently_used_go_first_beyond_the_capacity() -> None:
    cache = ReadCache(capacity=10)
    cache.put("a", 0, "A", weight=4)
    cache.put("b", 0, "B", weight=4)
    assert cache.get("a", 0) == "A"  # a is now more recent than b
    cache.put("c", 0, "C", weight=4)  # 12 > 10: b goes
    assert cache.get("b", 0) is None
    assert (cache.get("a", 0), cache.get("c", 0)) == ("A", "C")
    cache.put("d", 0, "D", weight=11)  # heavier than the whole cache: not kept
    assert cache.get("d", 0) is None
    assert len(cache) == 2
