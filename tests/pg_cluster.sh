# pg_cluster.sh - a throwaway PostgreSQL cluster for the shell tests (sourced,
# not run): in a temporary folder, listening on 127.0.0.1 at a random port,
# trust authentication (nothing else can reach it), owned by 'postgres' when
# the tests run as root (PostgreSQL refuses root).
#   pg_cluster_start WORK DBNAME   sets pg_conninfo ("host=... dbname=DBNAME");
#                                  exits 77 without the postgresql package
#   pg_cluster_stop                stops it (call from the EXIT trap)
pg_cluster_start() {
    pg_work=$1
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
        echo "skipped: the postgresql package is not installed"; exit 77
    fi
    chmod 755 "$pg_work"
    as_pg=()
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$pg_work"
        as_pg=(runuser -u postgres --)
    fi
    pg_port=$((30000 + RANDOM % 20000))
    "${as_pg[@]}" "$pgbin/initdb" -D "$pg_work/pg" -A trust -U tinylarge >"$pg_work/initdb.log" 2>&1 ||
        { echo "initdb failed:"; cat "$pg_work/initdb.log"; exit 1; }
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg_work/pg" -l "$pg_work/pg.log" -w \
        -o "-h 127.0.0.1 -p $pg_port -k $pg_work -c fsync=off" start >/dev/null ||
        { echo "the server did not start:"; cat "$pg_work/pg.log"; exit 1; }
    "${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U tinylarge "$2" || { echo "createdb failed"; exit 1; }
    pg_conninfo="host=127.0.0.1 port=$pg_port user=tinylarge dbname=$2"
}

pg_cluster_stop() {
    [ -n "${pgbin:-}" ] && [ -n "${pg_work:-}" ] &&
        "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg_work/pg" -m immediate stop >/dev/null 2>&1
    return 0
}
