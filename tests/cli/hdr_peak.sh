# PQ HDR input is tone-mapped to SDR with the content's own peak (issue 15, item 6 follow-up):
# the brightest light its HDR10 metadata names (MaxCLL, else the mastering display's peak)
# becomes SDR white, colours below the roll-off keep their SDR values whatever the peak, and
# without metadata 1000 cd/m2 is assumed (such light then stays below white); one line says
# which peak and where it came from. Inputs: HEVC made lossless by x265 (which writes the
# metadata as SEI) from colours placed in PQ by zimg; the reader's frames are checked.
# SPDX-License-Identifier: GPL-3.0-or-later
. "$(dirname "$0")/lib.sh"

ffmpeg -hide_banner -encoders 2>/dev/null | grep -q libx265 || { echo "SKIP: ffmpeg has no libx265"; exit 77; }

# make NAME COLOUR NITS_OF_SDR_WHITE X265_METADATA: 3 frames of one colour in PQ BT.2020.
make() {
    ffmpeg -nostdin -y -v error -f lavfi -i "color=c=$2:s=64x48:r=25" -frames:v 3 \
        -vf "format=gbrpf32le,zscale=tin=bt709:pin=bt709:min=gbr:rin=full:t=smpte2084:p=bt2020:m=bt2020nc:r=tv:npl=$3,format=yuv420p10le" \
        -c:v libx265 -x265-params "lossless=1:log-level=error$4" -color_trc smpte2084 \
        -color_primaries bt2020 -colorspace bt2020nc -color_range tv "$1" || fail "cannot make $1"
}
# The centre pixel the network is given.
centre() {
    [ "$("$READDUMP" "$1" d.rgb)" = "64x48 3" ] || fail "$1: not 3 frames of 64x48"
    od -An -tu1 -j $(((24 * 64 + 32) * 3)) -N3 d.rgb
}
MD="G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"

# White at 400 cd/m2: the peak of content whose metadata says 400 maps to white (255);
# without metadata the assumed 1000 cd/m2 peak keeps 400 below white.
make cll400.mkv white 400 ":hdr10=1:max-cll=400,100"
make md400.mkv white 400 ":hdr10=1:master-display=${MD}L(4000000,50)"
make none400.mkv white 400 ""
for f in cll400.mkv md400.mkv; do
    set -- $(centre $f)
    [ "$1" -ge 254 ] && [ "$2" -ge 254 ] && [ "$3" -ge 254 ] || fail "$f: the 400 cd/m2 peak is $*, want white"
done
set -- $(centre none400.mkv)
[ "$1" -lt 254 ] && [ "$1" -gt 240 ] || fail "none400.mkv: 400 cd/m2 without metadata is $*, want just below white"
ok "a 400 cd/m2 peak named by MaxCLL or the mastering display becomes white; without metadata it is $1"

# MaxCLL ahead of the mastering display (which only bounds the content).
make both.mkv white 400 ":hdr10=1:max-cll=400,100:master-display=${MD}L(40000000,50)"
set -- $(centre both.mkv)
[ "$1" -ge 254 ] || fail "both.mkv: with MaxCLL 400 and a 4000 cd/m2 display the peak is $*, want white"
ok "MaxCLL is taken before the mastering display's peak"

# Below the roll-off nothing changes: an SDR-graded hoodie (150,105,39, white at 203 cd/m2)
# comes back as it was with a 4000 cd/m2 peak too.
make hoodie.mkv 0x966927 203 ":hdr10=1:max-cll=4000,400"
px=$(centre hoodie.mkv)
echo $px | awk '{ if ($1 < 146 || $1 > 154 || $2 < 101 || $2 > 109 || $3 < 35 || $3 > 43) exit 1 }' ||
    fail "hoodie.mkv: the hoodie is $px, want 150 105 39 (within 4)"
ok "below the roll-off the colours stay: $px"

# One line names the peak and where it came from.
run_ok -i cll400.mkv --output-alpha a.mp4
[ "$(wc -l <err.txt)" -eq 1 ] && grep -q "^rvm: the input is HDR (PQ, peak 400 cd/m2 from its MaxCLL): it is tone-mapped to SDR" err.txt ||
    fail "cll400.mkv: $(cat err.txt)"
run_ok -i none400.mkv --output-alpha b.mp4
grep -q "^rvm: the input is HDR (PQ, peak 1000 cd/m2, assumed: no HDR10 metadata)" err.txt || fail "none400.mkv: $(cat err.txt)"
ok "one line: $(cat err.txt)"
done_all
