"""The cache of decoded arrays, keyed by the archive's checksum."""


import numpy as np
import pytest
from cifar10_archives import python_archive
from conftest import data_config

from ddnn_tf.data import cifar10

pytestmark = pytest.mark.usefixtures("own_data_cache")


def test_decoded_arrays_are_cached_by_the_archive_s_checksum(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    expected = python_archive(path)
    cifar10.load(data_config(name="cifar10", archive=str(path)))
    assert len(list((tmp_path / "cache").glob("cifar10-*.npz"))) == 1

    def no_decoding(_):
        raise AssertionError("decoded again despite the cache")

    monkeypatch.setattr(cifar10, "_decode_archive", no_decoding)
    np.testing.assert_array_equal(cifar10.load(data_config(name="cifar10", archive=str(path)))[0]["test"][0],
                                  expected["test"][0])
    python_archive(path, seed=1)  # another archive at the same path: another checksum, decoded anew
    with pytest.raises(AssertionError, match="decoded again"):
        cifar10.load(data_config(name="cifar10", archive=str(path)))


def test_a_damaged_cache_entry_is_decoded_again_and_replaced(tmp_path, monkeypatch):
    path = tmp_path / "cifar-10-python.tar.gz"
    expected = python_archive(path)
    data = data_config(name="cifar10", archive=str(path))
    cifar10.load(data)
    (entry,) = (tmp_path / "cache").glob("cifar10-*.npz")
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    decoded, decode = [], cifar10._decode_archive

    def counted(archive):
        decoded.append(archive)
        return decode(archive)

    monkeypatch.setattr(cifar10, "_decode_archive", counted)
    np.testing.assert_array_equal(cifar10.load(data)[0]["train"][0], expected["train"][0])
    assert decoded == [str(path)]
    cifar10.load(data)
    assert decoded == [str(path)], "the replaced entry is read"
