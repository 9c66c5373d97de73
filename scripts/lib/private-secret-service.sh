# Sourced by scripts/demo and benches/status.sh: start a throw-away Secret Service.
#
# start_private_secret_service DIR
#   Starts a session dbus-daemon (no service activation) and an unlocked gnome-keyring whose
#   files live under DIR, exports DBUS_SESSION_BUS_ADDRESS, and appends both pids to the
#   caller's `pids` array so its cleanup can stop them.

has_secret_service() {
    [[ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ]] && dbus-send --session --print-reply \
        --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner \
        string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'
}

start_private_secret_service() {
    local dir="$1"
    mkdir -p "$dir/home" "$dir/runtime"
    chmod 700 "$dir/runtime"
    cat >"$dir/bus.conf" <<CONF
<busconfig>
  <type>session</type>
  <listen>unix:dir=$dir/runtime</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/>
  </policy>
</busconfig>
CONF
    dbus-daemon --config-file="$dir/bus.conf" --nofork --print-address=3 \
        3>"$dir/bus.addr" 2>"$dir/dbus.log" &
    pids+=($!)
    for _ in $(seq 100); do [[ -s "$dir/bus.addr" ]] && break; sleep 0.05; done
    DBUS_SESSION_BUS_ADDRESS="$(head -n 1 "$dir/bus.addr")"
    export DBUS_SESSION_BUS_ADDRESS
    # Unlock (which creates the login keyring) before anything else touches the Secret
    # Service, or D-Bus clients would meet a keyring without a login collection.
    printf '%s' "throw-away-keyring-password" | HOME="$dir/home" XDG_RUNTIME_DIR="$dir/runtime" \
        gnome-keyring-daemon --foreground --unlock --components=secrets >"$dir/keyring.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 200); do has_secret_service && break; sleep 0.05; done
    if ! has_secret_service; then
        echo "gnome-keyring did not start; see $dir/keyring.log" >&2
        return 1
    fi
    # The login collection is created just after the name is taken.
    sleep 0.2
}
