# Sourced by scripts/test. leftover_processes FILE prints each line of FILE (written by the
# tests, tests/support/processes.py: `<pid> start=<ticks> <what>`) whose process is still
# running: the same process, that is, when the line gives its start time (field 22 of
# /proc/<pid>/stat), not a later one given the same PID. A line with no start time is
# checked by its PID alone. A zombie has exited. Prints nothing when none is left.
leftover_processes() {
  local pid first rest stat state ticks
  local -a fields
  while read -r pid first rest; do
    [[ $pid =~ ^[0-9]+$ ]] || continue
    if [ -r "/proc/$pid/stat" ]; then
      stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
      read -ra fields <<<"${stat##*) }"  # the name, in parentheses, may hold spaces
      state=${fields[0]:-} ticks=${fields[19]:-}
      [ "$state" != Z ] || continue
      if [[ $first =~ ^start=([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != "$ticks" ]; then
        continue
      fi
    elif [ -d /proc/self ] || ! kill -0 "$pid" 2>/dev/null; then
      continue
    fi
    [[ $first == start=* ]] || rest="$first${rest:+ $rest}"
    echo "$pid${rest:+ $rest}"
  done <"$1" | sort -u
}
