"""The shapes data set: seeded, held-out combinations never trained on, and a reader that names what it sees."""

import numpy as np
import pytest

from studio.embedded import image_data
from studio.embedded.image_model import WORDS, write_tokenizer


def test_same_seed_same_pictures_and_held_out_combinations_never_in_training():
    a, captions_a = image_data.make_dataset(50, seed=3)
    b, captions_b = image_data.make_dataset(50, seed=3)
    assert np.array_equal(a, b) and captions_a == captions_b
    held = {s.caption for s in image_data.held_out_combinations()}
    _, captions = image_data.make_dataset(2000, seed=0)
    assert not held & set(captions)
    assert len(image_data.training_combinations()) + len(held) == len(image_data.all_combinations())


def test_held_out_words_all_appear_in_training():
    training = image_data.training_combinations()
    for sample in image_data.held_out_combinations():
        assert any(t.colour == sample.colour for t in training)
        assert any(t.shape == sample.shape for t in training)
        assert any(t.background == sample.background for t in training)


@pytest.mark.parametrize("seed", range(3))
def test_reader_names_colour_shape_and_background_of_drawn_pictures(seed):
    images, captions = image_data.make_dataset(300, seed=seed)
    for image, caption in zip(images, captions):
        reading = image_data.describe_image(image)
        assert caption == image_data.caption(reading.colour, reading.shape, reading.background)


def test_reader_on_an_empty_picture():
    plain = np.full((64, 64, 3), image_data.COLOURS["blue"], dtype=np.uint8)
    assert image_data.describe_image(plain).shape == "none"


def test_tokenizer_keeps_every_caption_word_whole(tmp_path):
    tokenizer = write_tokenizer(tmp_path)
    for word in WORDS:
        assert len(tokenizer.tokenize(word)) == 1, word
    assert tokenizer.tokenize("a zebra!")  # unknown words fall back to bytes, never fail
