#!/usr/bin/env bash
# tests/online.sh -- `PROG online` (runtime/online.c) on synthetic events.
#
#   tests/online.sh [DMC]      (default bin/dmc)
#
# DRN (examples/drn.model) is trained on `drn synth` rows, then reads other synthetic
# rows as a stream of events (sorted by user, so that requests hold several events).
# Checked: every event is scored and counted; the explorer's wins move the weights
# (predictions change) and major updates run; with --alpha 0 --major-steps 0 nothing
# moves (the same predictions as the starting checkpoint); one seed gives the same
# summary and the same checkpoint bytes, from a file or from stdin, another seed
# other bytes; team-draft interleaving adds up; with no updates the progressive AUC
# is eval's (LR, which samples nothing); bad labels, events out of time order, bad
# options and models without a click label or with a vector output are clear errors.
# Ends with "online: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
dmc=$(realpath "${1:-bin/dmc}")
work=$(mktemp -d /tmp/dmc-online.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
ok() {   # ok NAME STATUS [DETAIL]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1 ${3:-}"; fi
}
# jq-free JSON field: json FILE EXPR (a Python expression on d)
json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

"$dmc" examples/drn.model -o "$work/drn" || { echo "FAIL compiling drn"; exit 1; }
"$dmc" examples/lr.model -o "$work/lr" || { echo "FAIL compiling lr"; exit 1; }
cd "$work"
# the teacher is pinned: by default it comes from the model's signature, which
# changes with the compiler's graph, and the progressive AUC below depends on it
# (over teacher seeds 1-6, 1200 events: 0.43-0.59)
./drn synth 1500 --seed 1 --teacher-seed 1 -o train.tsv
./drn synth 1200 --seed 2 --teacher-seed 1 -o raw.tsv
# events sorted by uid (column 1), then ts (column 7): runs of one user's events in time order
{ head -1 raw.tsv; tail -n +2 raw.tsv | sort -t $'\t' -k1,1n -k7,7n; } > events.tsv
./drn train train.tsv --epochs 1 -q -o start.ckpt > /dev/null 2>&1
ok "training the starting checkpoint" $?

# updates happen
./drn online events.tsv -c start.ckpt -o moved.ckpt --alpha 0.5 --eta 0.5 --major-every 300 --json -q \
  > run.json 2> err
ok "online runs" $? "$(cat err)"
[ "$(json run.json 'd["events"]')" = 1200 ]; ok "every event read" $? "$(cat run.json)"
[ "$(json run.json 'd["explore"]["compared"] > 20 and d["explore"]["wins"] > 0')" = True ]
ok "requests compared, the explorer wins some" $? "$(cat run.json)"
# a request ends a little after each 300th event: 3 (or 4) updates in 1200 events, of
# 2 steps each (300 / 256 rounded up)
[ "$(json run.json '3 <= d["major"]["updates"] <= 4 and d["major"]["steps"] == 2 * d["major"]["updates"]')" = True ]
ok "a major update every 300 events" $? "$(cat run.json)"
[ "$(json run.json '0.5 < d["auc"] < 1 and 0 <= d["hit_at_1"] <= 1')" = True ]
ok "progressive AUC and hit@1 reported" $? "$(cat run.json)"
./drn predict events.tsv -c start.ckpt --seed 3 > p_start 2>/dev/null
./drn predict events.tsv -c moved.ckpt --seed 3 > p_moved 2>/dev/null
! cmp -s p_start p_moved; ok "the saved weights moved" $?

# exploration alone moves the weights; nothing moves without exploration or major updates
./drn online events.tsv -c start.ckpt -o explored.ckpt --alpha 0.5 --eta 0.5 --major-steps 0 --json -q > ex.json
[ "$(json ex.json 'd["major"]["updates"] == 0 and d["explore"]["wins"] > 0')" = True ]
ok "explore only" $? "$(cat ex.json)"
./drn predict events.tsv -c explored.ckpt --seed 3 > p_ex 2>/dev/null
! cmp -s p_start p_ex; ok "a winning explorer moves the weights" $?
./drn online events.tsv -c start.ckpt -o still.ckpt --alpha 0 --major-steps 0 --json -q > still.json
[ "$(json still.json 'd["explore"]["compared"] == 0 and d["major"]["updates"] == 0')" = True ]
ok "--alpha 0 --major-steps 0 compares nothing" $? "$(cat still.json)"
./drn predict events.tsv -c still.ckpt --seed 3 > p_still 2>/dev/null
cmp -s p_start p_still; ok "no update, the same predictions" $?

# determinism: the same seed, the same bytes; stdin is a file like any other
./drn online events.tsv -c start.ckpt -o x.ckpt --seed 5 --json -q > a.json && mv x.ckpt a.ckpt
./drn online - -c start.ckpt -o x.ckpt --seed 5 --json -q < events.tsv > b.json && mv x.ckpt b.ckpt
cmp -s a.json b.json && cmp -s a.ckpt b.ckpt; ok "one seed, one result (file and stdin)" $?
./drn online events.tsv -c start.ckpt -o c.ckpt --seed 6 --json -q > c.json
! cmp -s a.ckpt c.ckpt; ok "another seed, other weights" $?

# team-draft interleaving; requests of one event compare nothing
./drn online events.tsv -c start.ckpt --compare interleave --json -q > il.json
e='d["explore"]["compare"] == "interleave" and d["explore"]["compared"] > 20 and '
e+='d["explore"]["wins"] + d["explore"]["losses"] + d["explore"]["ties"] == d["explore"]["compared"]'
[ "$(json il.json "$e")" = True ]; ok "interleave" $? "$(cat il.json)"
./drn online events.tsv -c start.ckpt --max-request 1 --json -q > one.json
[ "$(json one.json 'd["requests"] == 1200 and d["explore"]["compared"] == 0')" = True ]
ok "--max-request 1" $? "$(cat one.json)"

# progressive validation without updates is eval (LR: no sampled inputs)
./lr synth 2000 --seed 1 -o lr_train.csv && ./lr synth 1000 --seed 2 -o lr_events.csv
./lr train lr_train.csv -q -o lr.ckpt > /dev/null 2>&1
./lr online lr_events.csv -c lr.ckpt --alpha 0 --major-steps 0 --json -q > lr.json
./lr eval lr_events.csv -c lr.ckpt --json > lr_eval.json 2>/dev/null
[ "$(json lr.json 'round(d["auc"], 6)')" = "$(json lr_eval.json 'round(d["auc"], 6)')" ]
ok "no update: the progressive AUC is eval's" $? "$(cat lr.json lr_eval.json)"

# bad input
expect() {   # expect NAME STATUS PATTERN COMMAND...: exits STATUS, stderr matches PATTERN
  local name=$1 want=$2 pat=$3; shift 3
  "$@" > /dev/null 2> err; local got=$?
  [ "$got" = "$want" ] && grep -q -- "$pat" err; ok "$name" $? "(exit $got) $(cat err)"
}
awk -F '\t' 'BEGIN { OFS = "\t" } NR == 5 { $6 = 2 } { print }' events.tsv > badlabel.tsv
expect "a label that is not 0/1" 1 "badlabel.tsv:5: column click: online needs a 0/1 label (the click), got 2" \
  ./drn online badlabel.tsv -c start.ckpt -q
./drn online badlabel.tsv -c start.ckpt -q --skip-bad --json > skip.json 2> err
[ $? = 0 ] && [ "$(json skip.json 'd["events"], d["skipped_rows"]')" = "1199 1" ] && grep -q "skipped 1 bad row" err
ok "--skip-bad skips it" $? "$(cat err skip.json)"
# the first two rows of user u, swapped in time
u=$(awk -F '\t' 'NR > 1 && $1 != "" { n[$1]++; if (n[$1] == 2) { print $1; exit } }' events.tsv)
awk -F '\t' -v u="$u" 'BEGIN { OFS = "\t" } $1 == u && !seen++ { $7 = $7 + 1000000 } { print }' events.tsv > late.tsv
expect "events of a user out of time order" 1 "column ts: .* is earlier than the previous event of this uid" \
  ./drn online late.tsv -c start.ckpt -q
expect "no checkpoint" 1 "nowhere.ckpt" ./drn online events.tsv -c nowhere.ckpt -q
cut -f 1-5,7 events.tsv > nolabel.tsv
expect "no label column" 1 "click" ./drn online nolabel.tsv -c start.ckpt -q
expect "no such --group column" 1 "nosuch" ./drn online events.tsv -c start.ckpt -q --group nosuch
head -1 events.tsv > empty.tsv
./drn online empty.tsv -c start.ckpt -q --json > empty.json 2> err
[ $? = 0 ] && [ "$(json empty.json 'd["events"], d["auc"]')" = "0 None" ]; ok "no events" $? "$(cat err)"
expect "--alpha out of range" 2 "alpha" ./drn online events.tsv --alpha 2
expect "--eta 0" 2 "eta" ./drn online events.tsv --eta 0
expect "--compare" 2 "'best' is not pairs or interleave" ./drn online events.tsv --compare best
expect "--memory smaller than a request" 1 "memory 10 cannot hold a request of --max-request 50" \
  ./drn online events.tsv -c start.ckpt --memory 10
expect "an option of another command" 2 "does not apply" ./drn online events.tsv --epochs 3
expect "no events file" 2 "give at least one data file" ./drn online

# models online cannot run
cat > nolabel.model <<'EOF'
model nolabel
feature user : id from userId vocab 100
output s = sum(embed(user, 4))
loss mse(s, 0.0)
train optimizer=adam(lr=0.01)
EOF
cat > vec.model <<'EOF'
model vec
feature user : id from userId vocab 100
label y from label
p = sigmoid(sum(embed(user, 4)))
output v = embed(user, 4)
loss bce(p, y)
train optimizer=adam(lr=0.01)
EOF
for m in nolabel vec; do "$dmc" $m.model -o $m 2> err || echo "FAIL compiling $m.model: $(cat err)"; done
expect "a model without a label" 1 "model nolabel declares no label" ./nolabel online lr_events.csv -c x.ckpt
expect "a model with a vector output" 1 "output 'v' of model vec has 4 values per row" ./vec online lr_events.csv -c x.ckpt

echo "online: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
