#!/usr/bin/env bash
# test_sim_report.sh - `tinylarge sim --report DIR` writes one HTML page that
# a browser renders: headless Chromium takes a screenshot of it, and in a
# copy with tests/sim_report_check.js every one of the five plots is drawn
# and has data on it (coloured pixels: gnuplot draws data in colour, axes in
# black), and the page logs no errors.
# usage: test_sim_report.sh TINYLARGE_BINARY SIM_DIR
set -u
bin=$1
simdir=$2
here=$(cd "$(dirname "$0")" && pwd)
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "skipped: chromium is not installed (scripts/install-deps.sh installs it)"; exit 77
fi
if ! command -v gnuplot >/dev/null; then
    echo "skipped: gnuplot is not installed"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1"; fi; }
# Chromium as root (CI) needs --no-sandbox; its own profile folder keeps runs apart.
chrome() {
    timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile" \
        --allow-file-access-from-files --window-size=1400,1600 "$@"
}

out=$("$bin" sim "$simdir/city.ini" --devices 2000 --duration 43200 --quiet --report "$work/report" 2>&1); status=$?
check "sim writes the report and says where" '[ $status -eq 0 ] && grep -q "^report: $work/report/index.html" <<<"$out"'
page=$work/report/index.html
check "the page is one file: SVG inline, nothing loaded from elsewhere" \
    '[ "$(grep -c "<svg" "$page")" -eq 5 ] && ! grep -Eq "(src|href)=\"[^#]" "$page"'
check "the page names the scenario and the seed" 'grep -q "city.ini" "$page" && grep -q "seed <b>1</b>" "$page"'

chrome --enable-logging=stderr --v=0 --screenshot="$work/shot.png" "file://$page" >"$work/shot.log" 2>&1
check "a screenshot was taken" '[ -s "$work/shot.png" ] && [ "$(head -c 8 "$work/shot.png" | od -An -c | tr -d " ")" = "211PNG\r\n032\n" ]'
check "the browser logged no page errors" '! grep -E "CONSOLE|Uncaught" "$work/shot.log"'

# The checker goes first in <head> so it sees every error the page raises.
cp "$here/sim_report_check.js" "$work/report/check.js"
sed 's|<head>|<head><script src="check.js"></script>|' "$page" >"$work/report/checked.html"
chrome --virtual-time-budget=10000 --dump-dom "file://$work/report/checked.html" >"$work/dom.html" 2>"$work/dom.log"
result=$(sed -n '/<pre id="plot-check">/,/<\/pre>/p' "$work/dom.html")
echo "$result" | sed 's/<[^>]*>//g'
check "the checker ran" 'grep -q "plots=5" <<<"$result"'
check "no page errors" 'grep -q "errors=0" <<<"$result"'
for plot in latency cells time classes library; do
    line=$(grep "plot-$plot " <<<"$result")
    coloured=$(sed -n 's/.*coloured=\([0-9]*\).*/\1/p' <<<"$line")
    ink=$(sed -n 's/.*ink=\([0-9]*\).*/\1/p' <<<"$line")
    check "plot $plot rendered with data ($line)" '[ "${coloured:-0}" -gt 300 ] && [ "${ink:-0}" -gt 1000 ]'
done

# A report folder that cannot be made is refused by name.
out=$("$bin" sim "$simdir/city.ini" --devices 100 --duration 60 --quiet --report /proc/no-report 2>&1); status=$?
check "unwritable report folder named" '[ $status -eq 1 ] && grep -q "/proc/no-report: cannot create the report folder" <<<"$out"'

echo "test_sim_report: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
