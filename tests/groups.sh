# groups.sh, sourced by a test script whose last line of output is
# "LABEL: P passed, F failed" (", S skipped" optional): runs the script's cases in
# groups at once, one per core, each group a run of CMD with its share of the cases.
#
#   run_groups LABEL JOBS CMD... -- CASE...
#
# prints each group's output but its summary, then one summary of them all (a group
# without one counts as a failure), and returns non-zero when any case failed.
run_groups() {
  local label=$1 jobs=$2 cmd=() out j i line p=0 f=0 s=0 skips=0
  shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cmd+=("$1"); shift; done
  shift
  local cases=("$@")
  out=$(mktemp -d)
  for ((j = 0; j < jobs; j++)); do
    local group=()
    for ((i = j; i < ${#cases[@]}; i += jobs)); do group+=("${cases[$i]}"); done
    [ ${#group[@]} -gt 0 ] && JOBS=1 "${cmd[@]}" "${group[@]}" > "$out/$j" 2>&1 &
  done
  wait
  for ((j = 0; j < jobs && j < ${#cases[@]}; j++)); do
    grep -v "^$label: [0-9]* passed" "$out/$j"
    line=$(grep "^$label: [0-9]* passed" "$out/$j" | tail -1)
    if [[ $line =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
      p=$((p + BASH_REMATCH[1])) f=$((f + BASH_REMATCH[2]))
      [ -n "${BASH_REMATCH[3]}" ] && skips=1 s=$((s + BASH_REMATCH[4]))
    else
      echo "FAIL group $j: no summary line"; f=$((f + 1))
    fi
  done
  rm -rf "$out"
  echo "$label: $p passed, $f failed$([ $skips = 1 ] && echo ", $s skipped")"
  [ "$f" -eq 0 ]
}
