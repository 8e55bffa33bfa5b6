# Types shared by the control plane (control.capnp) and the data plane (data.capnp).
#
# Versioning: PROTOCOL_VERSION is exchanged in Hello (control plane) and repeated in every
# data-plane header. Adding a field or a union member is a compatible change in Cap'n Proto and
# does NOT bump the version (old readers see the default / an unknown union member and answer
# "unimplemented"). Changing the meaning of an existing field, reusing a field number or removing
# a field bumps it; peers with different versions refuse each other in HelloReply.
#
# Limits: every list and blob here is bounded by the receiver before use; the bounds are in
# docs/protocol.md ("Limits") and enforced in proto/message_codec and proto/tensor_frame.

@0xfc6970d20b2d742c;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("cleave::wire");

const protocolVersion :UInt32 = 3;
# The version this build speaks. C++: cleave::wire::PROTOCOL_VERSION.
# 2: plans are graphs of stages. A stage may take its inputs from several upstream stages, each
# sending a subset (fan-in), and a plan may feed a stage zeros for inputs it never sends.
# 3: early exit. A stage's exit head is named (StageAssignment.exitOutput); its threshold 0
# now means "every request exits here", not "no exit head".

enum DType {
  # Element type of a tensor. Wire values are pinned (static_assert in tensor_frame.cpp) and
  # decoupled from the runtime's enum, so reordering cleave::DType cannot change the protocol.
  undefined @0;  # never valid on the wire; a reader rejects it
  float32 @1;    # IEEE 754 binary32, little-endian
  float16 @2;    # IEEE 754 binary16, little-endian
  int8 @3;       # two's complement 8-bit
  uint8 @4;      # unsigned 8-bit
  int32 @5;      # two's complement 32-bit, little-endian
  int64 @6;      # two's complement 64-bit, little-endian
  bool @7;       # one byte per element, 0 or 1
}

struct Quantization {
  # How integer tensor elements map to real numbers: real = scale * (q - zeroPoint).
  union {
    none @0 :Void;
    # The elements are the values themselves (float tensors, or integers that are not quantised).
    affine :group {
      # One scale and zero point for the whole tensor (the int8 runtime's scheme).
      scale @1 :Float32;      # step between two consecutive integer levels; > 0 and finite
      zeroPoint @2 :Int32;    # the integer that represents real 0; within the dtype's range
    }
  }
}

struct TensorSpec {
  # The static type of a value a stage consumes or produces: what a receiver expects, so a frame
  # can be checked against it before its bytes are copied.
  name @0 :Text;            # value name in the stage's ONNX graph (at most 256 bytes)
  dtype @1 :DType;          # element type
  shape @2 :List(Int64);    # dimensions, outermost first; rank <= 8, every dimension > 0
}

struct TensorHeader {
  # Describes one tensor whose raw bytes travel as their own ZeroMQ frame right after the
  # Cap'n Proto header frame (so big tensors are never copied into a Cap'n Proto message).
  # The i-th TensorHeader of a message describes frame i+1.
  name @0 :Text;
  # Value name in the receiving stage's graph (at most 256 bytes).
  dtype @1 :DType;
  # Element type of the tensor.
  shape @2 :List(Int64);
  # Full logical shape, outermost first; rank <= 8, every dimension > 0. When only some channels
  # are sent (channelsSent < shape[channelAxis]) the receiver rebuilds this shape with the
  # missing channels zero.
  quantization @3 :Quantization;
  # How to read integer elements as real numbers; `none` for float tensors.
  channelAxis @4 :UInt8;
  # Axis along which channels are counted (1 for NCHW); must be < rank, and 0 for a scalar. A
  # sender that sends the whole tensor may pick any valid axis.
  channelsSent @5 :UInt32;
  # Channels present in the bytes frame: the first channelsSent along channelAxis, for every
  # index of the axes before it (CLIO sends its channels ordered by importance, slice by slice).
  # 1 <= channelsSent <= shape[channelAxis]; equal to it when the whole tensor is sent; 1 for a
  # scalar.
  byteLength @6 :UInt64;
  # Length of the bytes frame: elements sent * dtype size. Redundant with the above on purpose:
  # the receiver checks both agree before allocating anything.
}
