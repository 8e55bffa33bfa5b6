# Data plane: activations travelling directly between agents (never through the daemon).
#
# Framing: one ZeroMQ multipart message per DataMessage:
#   frame 0      this DataMessage, Cap'n Proto flat-array encoding (unpacked)
#   frames 1..N  raw tensor bytes, one frame per TensorHeader in `tensors`, in order
#                (for `probe`: one frame of padding bytes)
# Agents exchange them over DEALER (sender) -> ROUTER (receiver) sockets secured with CURVE;
# the receiver admits only peers named in its current plan.

@0xe7f04f3068fda233;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("cleave::wire");

using Common = import "common.capnp";

struct DataMessage {
  version @0 :UInt32;
  # Sender's PROTOCOL_VERSION. Agents only talk after the daemon checked both, so a mismatch here
  # is a bug or an attack; the receiver drops the message and counts it.
  requestId @1 :UInt64;
  # Inference request this message belongs to, unique per origin agent (origin name + id is
  # unique in the fleet). Echoed by acks and failures.
  epoch @2 :UInt64;
  # Plan epoch the request started under; it runs to completion under that epoch's stages even
  # after a re-plan (agents keep the previous epoch's stages until its requests drain).

  union {
    activations @3 :Activations;
    # Inputs for a stage on the receiver; one tensor frame per header follows.
    result @4 :Activations;
    # Outputs of the last stage, sent back to the request's origin agent; tensor frames follow.
    ack @5 :TransferAck;
    # Receipt of an activations/result/probe message, for passive link estimation.
    failure @6 :Failure;
    # The receiver could not take the request; the origin re-runs it under the next plan.
    probe @7 :Probe;
    # Light active bandwidth probe on an idle link; one padding frame follows; answered by `ack`.
  }
}

struct Activations {
  stage @0 :UInt32;
  # For `activations`: index of the stage (in the epoch's plan) that should run on these tensors.
  # For `result`: index of the stage that produced them.
  origin @1 :Text;
  # Name of the agent that took the request and keeps its input until the result returns; the
  # last stage sends `result` there. At most 64 bytes.
  sentAtMicros @2 :UInt64;
  # Sender's monotonic clock when the message was queued, echoed in the ack so the sender can
  # time the transfer on its own clock (clocks of different devices are never compared).
  tensors @3 :List(Common.TensorHeader);
  # One header per following frame. At most the receiver's tensor limit (16 by default); for a
  # stage input each must be a distinct input of the stage, matching it by name, dtype and shape:
  # all of them, unless the stage gathers its inputs from several upstream stages (control.capnp
  # StageAssignment.upstream).
  zeroedInputs @4 :List(Text);
  # Inputs that this request's stages so far were fed as zeros because the plan never sends them
  # (nonn: missing students' features). Each stage passes on what it received plus its own; the
  # origin reports the result's list with it. At most 16.
}

struct TransferAck {
  echoSentAtMicros @0 :UInt64;
  # The acknowledged message's sentAtMicros, unchanged.
  receivedBytes @1 :UInt64;
  # Total bytes of all frames the receiver got in that message; the sender divides by the
  # elapsed time (minus half the RTT) for a bandwidth sample.
  stage @2 :UInt32;
  # The stage the acknowledged message was for (0 for probes).
}

struct Failure {
  reason @0 :Reason;
  # Why the receiver dropped the request.
  detail @1 :Text;
  # Human-readable detail for logs (at most 256 bytes); never parsed.

  enum Reason {
    badMessage @0;     # header or tensors failed validation
    unknownEpoch @1;   # the receiver has no stages for that epoch (drained or never received)
    unknownStage @2;   # the epoch exists but this agent does not run that stage
    overloaded @3;     # queue full; retry later or under another plan
    stageFailed @4;    # the stage ran and returned an error
    incomplete @5;     # a stage that gathers inputs from several senders did not get them all in time
  }
}

struct Probe {
  sentAtMicros @0 :UInt64;
  # Sender's monotonic clock at send, echoed in the ack.
  paddingBytes @1 :UInt32;
  # Length of the padding frame that follows (at most 1 MiB); its contents are ignored.
}
