"""Classical baselines: the median filters against hand-made cases and each other."""

import numpy as np
import pytest

from renoise.science import baselines, metrics, noise


def test_identity_is_a_copy(digits):
    images, _ = digits
    out = baselines.identity(images)
    assert np.array_equal(out, images) and out is not images


def test_median_removes_an_isolated_salt_pixel():
    image = -np.ones((1, 28, 28), dtype=np.float32)
    image[0, 10, 10] = 1.0
    assert np.all(baselines.median(image.reshape(1, -1)) == -1)


def test_median_matches_a_direct_window_median(rng):
    images = rng.uniform(-1, 1, (3, 784)).astype(np.float32)
    out = baselines.median(images).reshape(3, 28, 28)
    stack = images.reshape(3, 28, 28)
    for n, r, c in [(0, 5, 5), (1, 14, 20), (2, 1, 26)]:
        assert out[n, r, c] == np.median(stack[n, r - 1 : r + 2, c - 1 : c + 2])


def test_adaptive_median_restores_a_flat_image_exactly():
    clean = np.full((1, 784), 0.2, dtype=np.float32)
    noisy = clean.copy()
    noisy[0, [30, 31, 400, 401, 402, 700]] = [1, -1, 1, 1, -1, 1]
    assert np.array_equal(baselines.adaptive_median(noisy), clean)


def test_adaptive_median_keeps_uncorrupted_detail():
    image = np.linspace(-0.9, 0.9, 784, dtype=np.float32).reshape(1, -1)  # no extremes of ±1
    noisy = image.copy()
    noisy[0, 300] = 1.0
    out = baselines.adaptive_median(noisy)
    interior = np.ones((28, 28), dtype=bool)
    interior[[0, -1], :] = interior[:, [0, -1]] = False
    untouched = interior.reshape(-1) & (np.arange(784) != 300)
    assert np.allclose(out[0, untouched], image[0, untouched], atol=0.1)
    assert abs(out[0, 300] - image[0, 300]) < 0.1


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_filters_rank_as_expected_on_real_digits(digits, rng, p):
    images, _ = digits
    noisy = noise.salt_and_pepper(images, p, rng)
    scores = {key: metrics.psnr(b.denoise(noisy), images) for key, b in baselines.BASELINES.items()}
    assert scores["adaptive_median"] > scores["median_3x3"] > scores["noisy_input"]
