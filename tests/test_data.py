"""Dataset loaders on small files written by the tests, and every error path."""

import gzip

import numpy as np
import pytest

from renoise.science import data
from renoise.atomic import save_arrays
from renoise.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the idx format (magic 0x0000 08 ndim, big-endian sizes)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, n_train=20, n_test=10, side=28, labels_off_by=0):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "x_train": rng.integers(0, 256, (n_train, side, side)), "y_train": rng.integers(0, 10, n_train + labels_off_by),
        "x_test": rng.integers(0, 256, (n_test, side, side)), "y_test": rng.integers(0, 10, n_test),
    }
    for key, name in data.IDX_FILES.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(arrays[key])))
    return arrays


def test_scale_maps_grey_values_to_the_unit_interval():
    assert np.allclose(data.scale(np.array([[0, 255, 127.5]])), [[-1, 1, 0]])


def test_mnist5k_is_real_split_stratified_and_seeded():
    a = data.load_dataset("mnist5k")
    assert a.x_train.shape == (4500, 784) and a.x_test.shape == (500, 784)
    assert a.x_train.dtype == np.float32 and a.x_train.min() == -1 and a.x_train.max() == 1
    assert np.array_equal(np.bincount(a.y_test), np.full(10, 50))
    b = data.load_dataset("mnist5k", seed=0)
    c = data.load_dataset("mnist5k", seed=1)
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_test, c.x_test)


def test_limits_keep_the_first_images():
    small = data.load_dataset("mnist5k", n_train=30, n_test=7)
    assert len(small.x_train) == len(small.y_train) == 30 and len(small.x_test) == 7


def test_idx_folder_round_trip(tmp_path):
    arrays = write_idx_folder(tmp_path / "idx")
    loaded = data.load_dataset("mnist", tmp_path / "idx")
    assert loaded.x_train.shape == (20, 784) and loaded.x_test.shape == (10, 784)
    assert np.allclose(loaded.x_train, arrays["x_train"].reshape(20, -1) / 255 * 2 - 1, atol=1e-6)
    assert np.array_equal(loaded.y_test, arrays["y_test"])
    assert data.load_dataset("fashion-mnist", tmp_path / "idx").x_test.shape == (10, 784)


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (8, 28, 28), dtype=np.uint8), "y_train": np.arange(8),
              "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), "y_test": np.arange(4)}
    save_arrays(tmp_path / "mnist.npz", **arrays)
    loaded = data.load_dataset("mnist", tmp_path / "mnist.npz")
    assert np.array_equal(loaded.y_train, np.arange(8))
    assert np.allclose(loaded.x_test, arrays["x_test"].reshape(4, -1) / 255 * 2 - 1, atol=1e-6)


def test_missing_mnist_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "KERAS_MNIST", tmp_path / "nowhere" / "mnist.npz")
    with pytest.raises(DataError, match=r"MNIST not found; download .*mnist\.npz to .*nowhere"):
        data.load_dataset("mnist")


def test_missing_idx_file_is_named(tmp_path):
    write_idx_folder(tmp_path / "idx")
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: file not found"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_truncated_gzip_is_named(tmp_path):
    write_idx_folder(tmp_path / "idx")
    path = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: truncated or corrupt gzip"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_truncated_idx_payload_is_named(tmp_path):
    write_idx_folder(tmp_path / "idx")
    path = tmp_path / "idx" / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(DataError, match="header promises 15680 bytes of data, file holds 15580"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_corrupt_idx_header_is_named(tmp_path):
    write_idx_folder(tmp_path / "idx")
    (tmp_path / "idx" / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: not an idx file"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_wrong_image_size_is_refused(tmp_path):
    write_idx_folder(tmp_path / "idx", side=20)
    with pytest.raises(DataError, match=r"images have shape \(20, 20, 20\), expected"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_image_label_count_mismatch_is_refused(tmp_path):
    write_idx_folder(tmp_path / "idx", labels_off_by=3)
    with pytest.raises(DataError, match="20 images but 23 labels"):
        data.load_dataset("mnist", tmp_path / "idx")


def test_one_hot_labels_are_refused(tmp_path):
    arrays = {"x_train": np.zeros((4, 784), np.uint8), "y_train": np.eye(10)[:4], "x_test": np.zeros((2, 784), np.uint8),
              "y_test": np.arange(2)}
    save_arrays(tmp_path / "onehot.npz", **arrays)
    with pytest.raises(DataError, match=r"labels have shape \(4, 10\), expected one integer label per image"):
        data.load_dataset("mnist", tmp_path / "onehot.npz")


def test_npz_problems_are_named(tmp_path):
    save_arrays(tmp_path / "partial.npz", x_train=np.zeros((2, 784)))
    with pytest.raises(DataError, match="missing arrays y_train, x_test, y_test"):
        data.load_dataset("mnist", tmp_path / "partial.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "partial.npz").read_bytes()[:100])
    with pytest.raises(DataError, match="cut.npz: truncated or corrupt"):
        data.load_dataset("mnist", tmp_path / "cut.npz")


def test_unknown_dataset_and_misplaced_path(tmp_path):
    with pytest.raises(DataError, match="no dataset named 'emnist'; choose one of mnist5k, mnist, fashion-mnist"):
        data.load_dataset("emnist")
    with pytest.raises(DataError, match="takes no path"):
        data.load_dataset("mnist5k", tmp_path)
    with pytest.raises(DataError, match="Fashion-MNIST not found"):
        data.load_dataset("fashion-mnist", tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="file not found"):
        data.load_dataset("mnist", tmp_path / "empty")


def test_prepare_and_reload(tmp_path):
    dataset = data.load_dataset("mnist5k", n_train=300, n_test=40)
    arrays = data.prepare(dataset, validation_fraction=0.1, seed=0)
    assert len(arrays["x_train"]) == 270 and len(arrays["x_val"]) == 30
    assert arrays["sets"].shape == (12, 40, 784) and np.array_equal(arrays["sets"][0], dataset.x_test)
    data.save_prepared(tmp_path, arrays)
    train, test = data.load_prepared(tmp_path, "train"), data.load_prepared(tmp_path, "test")
    assert np.array_equal(train["x_val"], arrays["x_val"]) and np.array_equal(test["sets"], arrays["sets"])
    again = data.prepare(dataset, validation_fraction=0.1, seed=0)
    assert again["sets"].tobytes() == arrays["sets"].tobytes()


def test_too_few_training_images_for_a_stratified_split_is_one_line_naming_the_key():
    from renoise.errors import DataError

    few = data.load_dataset("mnist5k", n_train=90)  # 9 validation images cannot hold 10 classes
    with pytest.raises(DataError, match=r"^data.n_train: 90 training images \(the rarest class has \d+\) cannot be split"):
        data.prepare(few, validation_fraction=0.1, seed=0)
    assert len(data.prepare(data.load_dataset("mnist5k", n_train=91), validation_fraction=0.1, seed=0)["x_val"]) == 10
