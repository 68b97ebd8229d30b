import struct

import pytest

from codemode.worker.protocol import FrameDecoder, FrameError, encode_frame, from_wire, to_wire


def test_a_frame_is_a_length_prefix_and_json():
    frame = encode_frame({"op": "ping", "n": 1})
    (length,) = struct.unpack("!I", frame[:4])
    assert frame[4:] == b'{"op":"ping","n":1}'
    assert length == len(frame) - 4


def test_decoder_returns_messages_split_across_reads():
    frames = encode_frame({"op": "a"}) + encode_frame({"op": "b", "text": "é" * 10})
    decoder = FrameDecoder()
    messages = []
    for index in range(len(frames)):
        messages += decoder.feed(frames[index : index + 1])
    assert messages == [{"op": "a"}, {"op": "b", "text": "é" * 10}]


def test_decoder_returns_several_messages_from_one_read():
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame({"op": "a"}) + encode_frame({"op": "b"})) == [{"op": "a"}, {"op": "b"}]


def test_decoder_refuses_a_frame_above_the_limit_before_reading_it():
    decoder = FrameDecoder(max_bytes=10)
    with pytest.raises(FrameError, match="limit"):
        decoder.feed(struct.pack("!I", 11))


def test_encoder_refuses_a_message_above_the_limit():
    with pytest.raises(FrameError, match="frame limit"):
        encode_frame({"op": "x", "data": "y" * 100}, max_bytes=50)


def test_decoder_refuses_invalid_json():
    with pytest.raises(FrameError, match="not valid JSON"):
        FrameDecoder().feed(struct.pack("!I", 3) + b"{{{")


def test_decoder_refuses_a_message_without_op():
    with pytest.raises(FrameError, match="'op'"):
        FrameDecoder().feed(struct.pack("!I", 7) + b'{"x":1}')


def test_lone_surrogates_are_replaced_instead_of_failing():
    frame = encode_frame({"op": "x", "text": "a\udcffb"})
    assert FrameDecoder().feed(frame) == [{"op": "x", "text": "a?b"}]


def test_bytes_round_trip_through_the_wire_encoding():
    value = {"blob": b"\x00\xff", "nested": [b"ab", {"k": "text"}], 1: "int key"}
    assert from_wire(to_wire(value)) == {"blob": b"\x00\xff", "nested": [b"ab", {"k": "text"}], "1": "int key"}


def test_wire_encoding_refuses_keys_json_cannot_hold():
    with pytest.raises(TypeError, match="keys"):
        to_wire({(1, 2): "tuple key"})
