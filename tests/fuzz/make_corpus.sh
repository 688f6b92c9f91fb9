#!/usr/bin/env bash
# tests/fuzz/make_corpus.sh -- (re)writes the generated seeds of tests/fuzz/corpus/:
#   data/  synthetic rows (`PROG synth`) of each model fuzz_data links, behind the
#          selector byte that picks it (see fuzz_data.c), plus edge cases: quotes,
#          CRLF, a byte order mark, gzip, bad values for --skip-bad, predict without label
#   ckpt/  checkpoints the two fuzz_ckpt fixtures wrote after training on synthetic
#          rows, and the same files without their checksums (dmc.checksum and
#          dmc.data_checksums: so that mutations get past them to the readers behind)
# Nothing comes from ../shared/data (its licence forbids copying rows): every row is
# synthetic. The hand-written seeds of corpus/front/ are not touched. front's other
# seeds are read in place (examples/, stdlib/, tests/errors/, tests/ir/, tests/fuzz/models/).
# Usage: tests/fuzz/make_corpus.sh   (from the repository root; runs `make` first)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s bin/dmc "$BUILD/libdmcrt.a" "$BUILD/tests/lr_fixture" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=tests/fuzz/corpus
mkdir -p "$out/data" "$out/ckpt" "$out/front"
rm -f "$out"/data/gen_* "$out"/ckpt/gen_*

# selector byte, then a file's bytes
seed() {   # seed NAME SELECTOR FILE
  { printf "\\x$(printf %02x "$2")"; cat "$3"; } > "$out/data/gen_$1"
}

# model index in fuzz_data.c's table: din 0, wide_deep 1, drn 2, enc_fixture 3, lr_fixture 4
i=0
for m in din wide_deep drn enc_fixture lr_fixture; do
  if [ "$m" = lr_fixture ]; then prog="$BUILD/tests/lr_fixture"
  else
    src=examples/$m.model; [ -f "$src" ] || src=tests/fuzz/models/$m.model
    prog="$tmp/$m"; bin/dmc "$src" -o "$prog"
  fi
  "$prog" synth 6 --seed 1 -o "$tmp/$m.txt"
  seed "${m}" $i "$tmp/$m.txt"
  seed "${m}_skipbad" $((i | 8)) "$tmp/$m.txt"
  # predict: the label column removed
  awk -v d="$([ "$m" = din ] || [ "$m" = drn ] && printf '\t' || printf ',')" 'BEGIN{FS=OFS=d}
    NR==1{for(k=1;k<=NF;k++) if($k=="click"||$k=="y"||$k=="label") drop=k}
    {s=""; for(k=1;k<=NF;k++) if(k!=drop) s=s (s==""?"":OFS) $k; print s}' "$tmp/$m.txt" > "$tmp/$m.nolabel"
  seed "${m}_predict" $((i | 16)) "$tmp/$m.nolabel"
  # edge cases on the same rows: CRLF line ends and a byte order mark; gzip
  { printf '\xef\xbb\xbf'; sed 's/$/\r/' "$tmp/$m.txt"; } > "$tmp/$m.crlf"
  seed "${m}_crlf_bom" $i "$tmp/$m.crlf"
  gzip -9 -n -c "$tmp/$m.txt" > "$tmp/$m.gz"
  seed "${m}_gzip" $i "$tmp/$m.gz"
  # a bad value in the last row (skipped with --skip-bad), and quoted fields
  sed '$ s/[0-9]\.[0-9]*/x1/' "$tmp/$m.txt" > "$tmp/$m.bad"
  seed "${m}_badrow_skipbad" $((i | 8)) "$tmp/$m.bad"
  if [ "$m" = din ] || [ "$m" = drn ]; then
    awk 'BEGIN{FS=OFS="\t"} NR>1{for(k=1;k<=NF;k++) $k="\"" $k "\""} {print}' "$tmp/$m.txt" > "$tmp/$m.q"
  else
    awk 'BEGIN{FS=OFS=","} NR>1{for(k=1;k<=NF;k++) $k="\"" $k "\""} {print}' "$tmp/$m.txt" > "$tmp/$m.q"
  fi
  seed "${m}_quoted" $i "$tmp/$m.q"
  # two files read as one stream (selector & 32): cut at a form feed, each with its header
  { head -n 4 "$tmp/$m.txt"; printf '\f'; head -n 1 "$tmp/$m.txt"; tail -n +5 "$tmp/$m.txt"; } > "$tmp/$m.two"
  seed "${m}_two_files" $((i | 32)) "$tmp/$m.two"
  i=$((i + 1))
done

# a row longer than the CSV reader's first record buffer (4 KB): a 6000-byte hashed string
awk -F, 'BEGIN{OFS=","} NR==2{s=""; for(k=0;k<6000;k++) s=s "g"; $4=s} {print}' "$tmp/lr_fixture.txt" > "$tmp/lr.long"
head -n 1 "$tmp/lr_fixture.txt" | grep -q '^userId,itemId,hist,genre,' || { echo "make_corpus: lr_fixture columns changed" >&2; exit 1; }
seed lr_fixture_long_row 4 "$tmp/lr.long"

# checkpoints: the two fixtures trained for one epoch on 64 synthetic rows
for m in enc_fixture lr_fixture; do
  if [ "$m" = lr_fixture ]; then prog="$BUILD/tests/lr_fixture"; else prog="$tmp/$m"; fi
  "$prog" synth 64 --seed 2 -o "$tmp/$m.train"
  "$prog" train "$tmp/$m.train" --epochs 1 -q -o "$out/ckpt/gen_$m.ckpt" >/dev/null 2>&1
  python3 - "$out/ckpt/gen_$m.ckpt" "$out/ckpt/gen_${m}_nosum.ckpt" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
del h['__metadata__']['dmc.checksum']
del h['__metadata__']['dmc.data_checksums']
s = json.dumps(h, separators=(',', ':')).encode()
s += b' ' * (-len(s) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(s)) + s + b[8 + n:])
EOF
done
echo "make_corpus: $(ls "$out/data" | wc -l) data seeds, $(ls "$out/ckpt" | wc -l) checkpoint seeds"
