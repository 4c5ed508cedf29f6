"""Salt-and-pepper noise: the seed's distribution, determinism, Mixed, structures and modes."""

import numpy as np
import pytest

from renoise.science import noise

GREY = np.zeros((400, 784), dtype=np.float32)  # mid-grey: every salt or pepper pixel changes


def seed_salt_and_pepper(images, p, rs):
    """The seed notebook's formula (In[5]) for one level, with a legacy RandomState."""
    picked = np.array([rs.choice(2, images.shape[1], p=[1 - p, p]) for _ in range(len(images))])
    return np.clip(images + 10 * rs.randint(-1, 2, size=images.shape) * picked, -1.0, 1.0)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8, 1.0])
def test_changed_fraction_is_two_thirds_of_p(p, rng):
    noisy = noise.salt_and_pepper(GREY, p, rng)
    changed = np.mean(noisy != GREY)
    q = 2 * p / 3
    assert abs(changed - q) < 4 * np.sqrt(q * (1 - q) / GREY.size)
    # salt and pepper are equally likely
    assert abs(np.mean(noisy == 1) - np.mean(noisy == -1)) < 4 * np.sqrt(p / 3 / GREY.size) * 2


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_matches_the_seed_formula_in_distribution(p, rng):
    ours = noise.salt_and_pepper(GREY, p, rng)
    seed = seed_salt_and_pepper(GREY, p, np.random.RandomState(7))
    for value in (-1.0, 0.0, 1.0):
        a, b = np.mean(ours == value), np.mean(seed == value)
        assert abs(a - b) < 5 * np.sqrt(max(a, 1e-3) / GREY.size) * 2


def test_zero_changes_nothing_and_one_leaves_a_third(digits, rng):
    images, _ = digits
    assert np.array_equal(noise.salt_and_pepper(images, 0.0, rng), images)
    untouched = np.mean(noise.salt_and_pepper(GREY, 1.0, rng) == 0)
    assert abs(untouched - 1 / 3) < 4 * np.sqrt(2 / 9 / GREY.size)


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_black_pixels_only_turn_to_salt_at_p_over_3(digits, rng, p):
    images, _ = digits
    noisy = noise.salt_and_pepper(images, p, rng)
    black = images == -1
    assert set(np.unique(noisy[black])) == {-1.0, 1.0}  # pepper on black changes nothing
    salted = np.mean(noisy[black] == 1)
    assert abs(salted - p / 3) < 4 * np.sqrt(p / 3 * (1 - p / 3) / black.sum())
    assert np.all((noisy == images) | (np.abs(noisy) == 1))


def test_same_seed_gives_bit_identical_output(digits):
    images, _ = digits
    a = noise.evaluation_sets(images, np.random.default_rng(3))
    b = noise.evaluation_sets(images, np.random.default_rng(3))
    c = noise.evaluation_sets(images, np.random.default_rng(4))
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("levels", [0.4, "per image"])
def test_the_block_size_does_not_change_the_noise(digits, monkeypatch, levels):
    images, _ = digits
    p = np.linspace(0, 1, len(images)) if levels == "per image" else levels
    whole = noise.salt_and_pepper(images, p, np.random.default_rng(5))
    monkeypatch.setattr(noise, "BLOCK", 7)  # blocks of an odd size, and a short last one
    assert np.array_equal(noise.salt_and_pepper(images, p, np.random.default_rng(5)), whole)


def test_input_is_not_modified(digits, rng):
    images, _ = digits
    before = images.copy()
    noise.salt_and_pepper(images, 0.5, rng)
    assert np.array_equal(images, before)


def test_evaluation_sets_layout(digits, rng):
    images, _ = digits
    sets = noise.evaluation_sets(images, rng)
    assert sets.shape == (12,) + images.shape and sets.dtype == np.float32
    assert np.array_equal(sets[0], images)
    changed = [np.mean(s != images) for s in sets[:11]]
    assert all(a < b for a, b in zip(changed, changed[1:]))
    assert noise.SET_NAMES[0] == "0%" and noise.SET_NAMES[-1] == "Mixed" and len(noise.SET_NAMES) == 12


def test_mixed_uses_every_level(rng):
    grey = np.zeros((3000, 784), dtype=np.float32)
    noisy = noise.mixed(grey, rng)
    estimated = np.round(np.clip(np.mean(noisy != 0, axis=1) * 1.5, 0, 1), 1)  # changed fraction is 2p/3
    assert set(np.unique(estimated)) == set(noise.LEVELS)
    assert set(noise.random_levels(2000, rng)) == set(noise.LEVELS)


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan"), [0.2, float("nan")]])
def test_levels_outside_the_unit_interval_are_refused(bad, rng):
    with pytest.raises(ValueError, match="noise level must be in"):
        noise.salt_and_pepper(GREY[:2], bad, rng)


def test_per_image_levels_must_match_the_images(rng):
    with pytest.raises(ValueError, match="3 levels"):
        noise.salt_and_pepper(GREY[:2], [0.1, 0.2, 0.3], rng)


def test_per_image_levels_apply_to_each_image(rng):
    noisy = noise.salt_and_pepper(GREY[:2], [0.0, 1.0], rng)
    assert np.all(noisy[0] == 0) and np.mean(noisy[1] != 0) > 0.5


def test_training_structures(rng):
    index, levels = noise.structure_levels("one_level", 50, rng)
    assert np.array_equal(index, np.arange(50)) and set(levels) <= set(noise.LEVELS)
    index, levels = noise.structure_levels("multiple_levels", 50, rng)
    assert len(index) == 550 and np.array_equal(np.bincount(index), np.full(50, 11))
    assert np.array_equal(levels[50 * 3 : 50 * 4], np.full(50, 0.3))
    with pytest.raises(ValueError, match="unknown training structure"):
        noise.structure_levels("two_levels", 5, rng)


@pytest.mark.parametrize(
    "given, parsed, name",
    [(0, 0.0, "0"), (0.25, 0.25, "25"), ("25%", 0.25, "25"), ("Mixed", "mixed", "Mixed"), ("multi", "multi", "Multi"),
     (1, 1.0, "100")],
)
def test_modes(given, parsed, name):
    assert noise.parse_mode(given) == parsed
    assert noise.mode_name(given) == name


@pytest.mark.parametrize("bad", ["sometimes", 1.5, "150%", True, None, float("nan")])
def test_bad_modes_are_refused(bad):
    with pytest.raises(ValueError):
        noise.parse_mode(bad)


def test_renoise_levels(rng):
    items = np.repeat(noise.LEVELS, 3)
    assert np.array_equal(noise.renoise_levels(0.25, items, rng), np.full(33, 0.25))
    assert np.array_equal(noise.renoise_levels("multi", items, rng), items)
    drawn = noise.renoise_levels("mixed", np.zeros(500), rng)
    assert set(drawn) == set(noise.LEVELS)


def test_salt_and_pepper_is_impulses_with_the_uniforms_it_draws(digits):
    levels = noise.random_levels(len(digits[0]), np.random.default_rng(3))
    drawn = noise.salt_and_pepper(digits[0], levels, np.random.default_rng(9))
    u = noise.uniforms(len(digits[0]), np.random.default_rng(9))
    np.testing.assert_array_equal(noise.impulses(digits[0], levels, u), drawn)
    # by hand: a pixel is pepper below p/3, salt from 2p/3 to p, untouched elsewhere
    x = np.zeros((1, 784), np.float32)
    u = np.zeros((1, 784), np.float32)
    u[0, :3] = (0.05, 0.15, 0.35)  # p = 0.3: pepper below 0.1, nothing from 0.1 to 0.2, salt from 0.2 to 0.3
    assert tuple(noise.impulses(x, 0.3, u)[0, :3]) == (-1.0, 0.0, 0.0)
    u[0, :3] = (0.25, 0.31, 0.099)
    assert tuple(noise.impulses(x, 0.3, u)[0, :3]) == (1.0, 0.0, -1.0)
