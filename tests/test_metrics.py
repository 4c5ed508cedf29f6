"""Metrics against hand-computed values and independent implementations (scikit-image, TensorFlow,
keras, scipy), plus the two deviations from the seed's code, shown by numbers."""

import numpy as np
import pytest
import scipy.linalg
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from renoise.science import metrics, noise


@pytest.fixture(scope="module")
def pair(digits):
    """Clean digits and a rough reconstruction of them."""
    images, _ = digits
    rng = np.random.default_rng(1)
    noisy = noise.salt_and_pepper(images[:40], 0.3, rng)
    blurred = np.clip(0.6 * noisy + 0.4 * images[:40] + rng.normal(0, 0.05, noisy.shape), -1, 1)
    return blurred.astype(np.float32), images[:40]


def test_hand_computed_values():
    target = -np.ones((2, 784))  # -> 0 in unit form
    prediction = np.zeros((2, 784))  # -> 0.5
    assert metrics.mse(prediction, target) == pytest.approx(0.25)
    assert metrics.mae(prediction, target) == pytest.approx(0.5)
    assert metrics.pixel_accuracy(prediction, target) == 0.0
    assert metrics.binary_cross_entropy(prediction, target) == pytest.approx(np.log(2))
    assert metrics.psnr(prediction, target) == pytest.approx(10 * np.log10(4))


def test_to_unit_maps_and_rounds():
    assert np.array_equal(metrics.to_unit(np.array([-1.0, 0.0, 1.0, 0.013])), [0.0, 0.5, 1.0, 0.51])


def test_to_steps_is_to_unit_in_hundredths_even_on_rounding_ties(rng):
    ties = (np.arange(100) + 0.5) / 50 - 1  # values whose unit form ends in exactly 5 thousandths
    values = np.concatenate([ties, np.nextafter(ties, 2), np.nextafter(ties, -2), rng.uniform(-1, 1, 10_000)])
    for dtype in (np.float64, np.float32):
        v = values.astype(dtype)
        assert np.array_equal(metrics.to_steps(v) / 100, metrics.to_unit(v))


def test_values_outside_the_autoencoders_range_are_refused():
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\], got values in \[-1, 1.5\]"):
        metrics.mse(np.array([[-1.0, 1.5]]), np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"got values in \[nan, nan\]"):  # a diverged model's outputs
        metrics.ssim(np.full((1, 784), np.nan), np.zeros((1, 784)))


def test_joint_histogram_by_hand():
    histogram = metrics.joint_histogram(np.array([[0, 100, 100]]), np.array([[0, 50, 50]]))
    assert histogram.shape == (101, 101) and histogram.sum() == 3
    assert histogram[0, 0] == 1 and histogram[100, 50] == 2


def test_pixel_metrics_from_the_histogram_equal_the_direct_means(pair):
    prediction, target = pair
    x, y = metrics.to_unit(prediction), metrics.to_unit(target)
    p = np.clip(x, 1e-7, 1 - 1e-7)
    assert metrics.mse(prediction, target) == pytest.approx(np.mean((x - y) ** 2), rel=1e-12)
    assert metrics.mae(prediction, target) == pytest.approx(np.mean(np.abs(x - y)), rel=1e-12)
    assert metrics.pixel_accuracy(prediction, target) == pytest.approx(np.mean(x == y), rel=1e-12)
    assert metrics.binary_cross_entropy(prediction, target) == pytest.approx(
        -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-12)


def test_pixel_accuracy_counts_equal_pixels_after_rounding():
    target = np.array([[0.0, 0.0, 1.0, -1.0]])
    prediction = np.array([[0.004, 0.2, 1.0, -0.9]])  # 0.502 rounds to 0.5: equal
    assert metrics.pixel_accuracy(prediction, target) == pytest.approx(0.5)


def test_bce_matches_keras_with_target_as_y_true(pair):
    import keras

    prediction, target = pair
    per_image = keras.losses.binary_crossentropy(metrics.to_unit(target), metrics.to_unit(prediction))  # float64 in
    assert metrics.binary_cross_entropy(prediction, target) == pytest.approx(float(np.mean(per_image)), rel=1e-9)


def test_ssim_matches_scikit_image(pair):
    prediction, target = pair
    ours = metrics.ssim_per_image(prediction, target)
    x, y = metrics.to_unit(prediction), metrics.to_unit(target)
    reference = [
        structural_similarity(b.reshape(28, 28), a.reshape(28, 28), gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=1.0)
        for a, b in zip(x, y)
    ]
    np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_ssim_matches_tensorflow(pair):
    import tensorflow as tf

    prediction, target = pair
    x = metrics.to_unit(prediction).reshape(-1, 28, 28, 1).astype(np.float32)
    y = metrics.to_unit(target).reshape(-1, 28, 28, 1).astype(np.float32)
    np.testing.assert_allclose(metrics.ssim_per_image(prediction, target), tf.image.ssim(x, y, max_val=1.0).numpy(), atol=1e-5)


def test_ssim_of_identical_images_is_one(pair):
    _, target = pair
    assert metrics.ssim(target, target) == pytest.approx(1.0)


def test_psnr_matches_scikit_image_and_caps_identical(pair):
    prediction, target = pair
    x, y = metrics.to_unit(prediction), metrics.to_unit(target)
    reference = [peak_signal_noise_ratio(b, a, data_range=1.0) for a, b in zip(x, y)]
    np.testing.assert_allclose(metrics.psnr_per_image(prediction, target), reference, rtol=1e-10)
    assert metrics.psnr(target, target) == metrics.PSNR_CAP


def sqrtm_fid(a, b):
    """The seed's ``calculate_fid`` (scipy.linalg.sqrtm), as an independent reference."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)


@pytest.mark.parametrize("n", [600, 20, 12])  # more samples than dimensions, as many, fewer (the low-rank form)
def test_frechet_distance_equals_the_sqrtm_form(rng, n):
    a = rng.normal(size=(n, 20)) @ rng.normal(size=(20, 20))
    b = rng.normal(0.3, 1.2, size=(600, 20)) @ rng.normal(size=(20, 20))
    assert metrics.Gaussian.fit(a).factor is not None if n <= 20 else metrics.Gaussian.fit(a).cov is not None
    assert metrics.frechet_distance(a, b) == pytest.approx(sqrtm_fid(a, b), rel=1e-6)


def test_frechet_distance_is_zero_on_itself_and_symmetric(pair, rng):
    prediction, target = pair
    assert metrics.pixel_fid(target, target) == pytest.approx(0.0, abs=1e-6)
    assert metrics.pixel_fid(prediction, target) == pytest.approx(metrics.pixel_fid(target, prediction), rel=1e-9)
    a = rng.normal(size=(500, 5))
    assert metrics.frechet_distance(a, a + 2.0) == pytest.approx(5 * 4.0, rel=1e-9)  # a pure mean shift


def test_frechet_distance_of_a_set_with_itself_is_never_below_zero(rng):
    # Unclamped, identical sets come out at about -1e-13 on some draws: a distance below zero.
    distances = [metrics.frechet_distance(f, f) for f in (rng.normal(size=(300, 40)) for _ in range(20))]
    assert min(distances) >= 0.0
    assert max(distances) < 1e-9


def test_frechet_distance_refuses_mismatched_features():
    with pytest.raises(ValueError, match="cannot be compared"):
        metrics.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="two samples"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_classifier_accuracy_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert metrics.classifier_accuracy(probabilities, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels"):
        metrics.classifier_accuracy(probabilities, np.array([0, 1]))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="differs from target shape"):
        metrics.mse(np.zeros((2, 784)), np.zeros((3, 784)))
    with pytest.raises(ValueError, match=r"need images of shape \(N, 784\), got \(2, 28, 28\)"):
        metrics.psnr(np.zeros((2, 28, 28)), np.zeros((2, 28, 28)))


def test_evaluate_agrees_with_the_single_metrics(pair, rng):
    prediction, target = pair
    probabilities = rng.dirichlet(np.ones(10), size=len(target))
    labels = rng.integers(0, 10, len(target))
    features, target_features = rng.normal(size=(len(target), 8)), rng.normal(size=(len(target), 8))
    reference = metrics.Reference.of(target, target_features)
    result = metrics.evaluate(prediction, reference, probabilities=probabilities, labels=labels, features=features)
    assert list(result) == list(metrics.METRICS)
    assert result["mse"] == metrics.mse(prediction, target)
    assert result["ssim"] == pytest.approx(metrics.ssim(prediction, target))
    assert result["psnr"] == pytest.approx(metrics.psnr(prediction, target))
    assert result["pixel_fid"] == pytest.approx(metrics.pixel_fid(prediction, target))
    assert result["bce"] == metrics.binary_cross_entropy(prediction, target)
    assert result["feature_fid"] == pytest.approx(metrics.frechet_distance(features, target_features))
    assert result["classifier_accuracy"] == metrics.classifier_accuracy(probabilities, labels)
    with pytest.raises(ValueError, match="differs from target shape"):
        metrics.evaluate(prediction[:5], reference, probabilities=probabilities, labels=labels, features=features)


def test_the_seed_ssim_reshape_gives_another_number(pair):
    """The seed reshaped (N, 784) to (28, 28, N): each 'image' mixes pixels of many digits."""
    import tensorflow as tf

    prediction, target = pair
    n = len(target)
    x = tf.convert_to_tensor(metrics.to_unit(prediction).reshape(28, 28, n), tf.float32)
    y = tf.convert_to_tensor(metrics.to_unit(target).reshape(28, 28, n), tf.float32)
    seed_value = float(tf.reduce_mean(tf.image.ssim(y, x, max_val=1)))
    assert abs(seed_value - metrics.ssim(prediction, target)) > 0.01


def test_the_seed_bce_argument_order_gives_another_number(pair):
    import keras

    prediction, target = pair
    seed_value = float(keras.losses.BinaryCrossentropy()(metrics.to_unit(prediction), metrics.to_unit(target)))
    assert abs(seed_value - metrics.binary_cross_entropy(prediction, target)) > 0.1
