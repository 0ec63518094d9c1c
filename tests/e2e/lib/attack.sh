# attack.sh — guest helpers shared by the scenarios that run lib/attacker.py
# (backend_binding_attack.sh, backend_radius.sh). Source after sstp.sh.
#
#   attack NAME ARGS...   lib/attacker.py ARGS in namespace "cli" (60 s at
#                         most); its key=value output in $W/NAME.out, the
#                         values in ATK[key]; the scenario fails if the
#                         attack could not be staged, unless ATTACK_MAY_END_EARLY
#                         is set: then ATK[ended_early]=1 and the caller checks
#                         that the server refused it (a refusal can come before
#                         the attacker sees its authentication succeed)
#   has_line FILE GLOB    one line of FILE matches GLOB (log_has matches the
#                         whole file, where a * would span lines)
#   sid_of USER [N]       the session id of USER's Nth (default first)
#                         ev=auth_ok in the backend log

ATTACKER="python3 $E2E_DIR/lib/attacker.py"
declare -gA ATK=()

attack() {
    local name=$1 line
    shift
    ip netns exec "$CLI_NS" timeout 60 $ATTACKER "$@" > "$W/$name.out" 2> "$W/$name.err"
    ATK=()
    while IFS= read -r line; do
        [[ $line == *=* ]] && ATK[${line%%=*}]=${line#*=}
    done < "$W/$name.out"
    gs_log "$name: $(tr '\n' ' ' < "$W/$name.out")"
    if [ "${ATK[done]:-}" != 1 ] || [ -n "${ATK[stage_error]:-}" ]; then
        [ -n "${ATTACK_MAY_END_EARLY:-}" ] && { ATK[ended_early]=1; return 0; }
        verdict_fail "$name: attack not staged: ${ATK[stage_error]:-$(tail -n 3 "$W/$name.err")}"
    fi
}

has_line() {
    log_line "$1" "$2" > /dev/null
}

sid_of() {
    local line n=0
    while IFS= read -r line; do
        if [[ $line == *"ev=auth_ok "*" user=$1 "* ]]; then
            n=$((n + 1))
            [ $n -eq "${2:-1}" ] && { line=${line#*sid=}; echo "${line%% *}"; return 0; }
        fi
    done < "$BACKEND_LOG"
    return 1
}
