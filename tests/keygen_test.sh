#!/usr/bin/env bash
# `cleavectl keygen NAME --out DIR [--force]`: key files with the right modes and contents, checked
# by an independent Z85 decoder and X25519 (RFC 7748) in Python; refusal without --force; bad names.
set -u
cleavectl=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

fail() { echo "FAIL $*"; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

# Checks NAME's key files in DIR: modes, 40 Z85 characters + newline, public = X25519(secret, 9),
# and that the printed fingerprint is BLAKE2b-256(public)[:8] in hex.
check_pair() {  # check_pair DIR NAME STDOUT_FILE
  local dir=$1 name=$2 out=$3
  [ "$(stat -c %a "$dir/$name.secret")" = 600 ] && ok "$name.secret mode 600" || fail "$name.secret mode $(stat -c %a "$dir/$name.secret")"
  [ "$(stat -c %a "$dir/$name.pub")" = 644 ] && ok "$name.pub mode 644" || fail "$name.pub mode $(stat -c %a "$dir/$name.pub")"
  for f in "$dir/$name.pub" "$dir/$name.secret"; do
    [ "$(wc -c <"$f")" -eq 41 ] && ok "$(basename "$f") is 41 bytes" || fail "$(basename "$f") is $(wc -c <"$f") bytes"
    [ "$(wc -l <"$f")" -eq 1 ] && [ "$(head -n 1 "$f" | tr -d '\n' | wc -c)" -eq 40 ] \
      && ok "$(basename "$f") is one line of 40 characters" || fail "$(basename "$f") content"
  done
  if /usr/bin/python3 - "$dir/$name.pub" "$dir/$name.secret" "$out" <<'PY'; then ok "$name: keys belong together, fingerprint matches"; else fail "$name: key check"; fi
import hashlib, re, sys
A = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
def z85(s):
    assert len(s) == 40 and all(c in A for c in s), f"not 40 Z85 characters: {s!r}"
    out = b""
    for i in range(0, 40, 5):
        v = 0
        for c in s[i:i + 5]: v = v * 85 + A.index(c)
        assert v < 2**32
        out += v.to_bytes(4, "big")
    return out
P = 2**255 - 19
def x25519(k, u):  # RFC 7748, section 5
    k = bytearray(k); k[0] &= 248; k[31] &= 127; k[31] |= 64
    k = int.from_bytes(k, "little"); x1 = u; x2, z2, x3, z3, swap = 1, 0, u, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1; swap ^= kt
        if swap: x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a = x2 + z2; aa = a * a % P; b = x2 - z2; bb = b * b % P; e = aa - bb
        c = x3 + z3; d = x3 - z3; da = d * a % P; cb = c * b % P
        x3 = (da + cb) ** 2 % P; z3 = x1 * (da - cb) ** 2 % P; x2 = aa * bb % P; z2 = e * (aa + 121665 * e) % P
    if swap: x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")
pub_text = open(sys.argv[1]).read(); sec_text = open(sys.argv[2]).read()
assert pub_text.endswith("\n") and sec_text.endswith("\n")
pub, sec = z85(pub_text[:-1]), z85(sec_text[:-1])
assert len(pub) == 32 and len(sec) == 32
assert x25519(sec, 9) == pub, "public key does not belong to the secret key"
printed = open(sys.argv[3]).read()
assert f"public key:  {pub_text[:-1]}" in printed, printed
fingerprint = hashlib.blake2b(pub, digest_size=32).hexdigest()[:16]
assert f"fingerprint: {fingerprint}" in printed, (fingerprint, printed)
PY
}

keys=$work/fleet/keys  # does not exist yet: keygen creates it
if "$cleavectl" keygen agent-1 --out "$keys" >"$work/out1" 2>"$work/err1"; then ok "keygen agent-1"; else fail "keygen agent-1: $(cat "$work/err1")"; fi
check_pair "$keys" agent-1 "$work/out1"
[ "$(ls -A "$keys" | wc -l)" -eq 2 ] && ok "exactly two files written" || fail "files in $keys: $(ls -A "$keys")"
cp "$keys/agent-1.pub" "$work/pub.before"
cp "$keys/agent-1.secret" "$work/secret.before"

# Without --force: refused with one line naming the file, files untouched.
"$cleavectl" keygen agent-1 --out "$keys" >/dev/null 2>"$work/err2"
status=$?
if [ "$status" -ne 0 ] && [ "$(grep -c . "$work/err2")" -eq 1 ] &&
  grep -qF "$keys/agent-1.secret: already exists; not overwriting it (pass --force to replace it)" "$work/err2"; then
  ok "overwrite refused: $(cat "$work/err2")"
else
  fail "overwrite without --force: exit $status: $(cat "$work/err2")"
fi
cmp -s "$keys/agent-1.pub" "$work/pub.before" && cmp -s "$keys/agent-1.secret" "$work/secret.before" &&
  ok "refused run left the files alone" || fail "refused run changed the files"

# With --force: new keys, same modes.
if "$cleavectl" keygen agent-1 --out "$keys" --force >"$work/out3" 2>"$work/err3"; then ok "keygen --force"; else fail "keygen --force: $(cat "$work/err3")"; fi
cmp -s "$keys/agent-1.secret" "$work/secret.before" && fail "--force kept the old secret" || ok "--force wrote a new secret"
check_pair "$keys" agent-1 "$work/out3"

# A name that would leave the directory, and a missing --out.
"$cleavectl" keygen ../evil --out "$keys" >/dev/null 2>"$work/err4"
status=$?
if [ "$status" -ne 0 ] && grep -qF "key name '../evil' has a character outside [A-Za-z0-9._-]" "$work/err4" &&
  [ ! -e "$work/fleet/evil.secret" ]; then
  ok "bad name refused: $(cat "$work/err4")"
else
  fail "bad name: exit $status: $(cat "$work/err4")"
fi
"$cleavectl" keygen agent-2 >/dev/null 2>&1 && fail "keygen without --out succeeded" || ok "keygen without --out refused"

echo "$failures failures"
[ "$failures" -eq 0 ]
