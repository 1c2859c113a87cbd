# bench/handover/plot.gp — the probe stream around one event (called by analyze.py):
#   gnuplot -e "dat='X.window.dat'; lost='X.lost.dat'; png='X.png'; ttl='...'; evl='...'; \
#               xmin=-60; xmax=200; gapend=12.3; brk=''; probems=1" plot.gp
# dat: recv_rel_ms seq_rel owd_ms send_rel_ms; lost: send_rel_ms seq_rel (estimated)
# Top: sequence number (relative to the probe sent at the event) over arrival time; lost
# probes as red crosses at their send time. Bottom: one-way delay over send time.
set terminal pngcairo size 1200,800 font ",10"
set output png
set multiplot layout 2,1 title ttl font ",11"
set grid
set xrange [xmin:xmax]
set arrow 1 from 0, graph 0 to 0, graph 1 nohead lc rgb "#d62728" lw 2 dt 2
set label 1 evl at 0, graph 0.95 offset 0.5,0 tc rgb "#d62728"
if (gapend > 0.5) {
    set arrow 2 from gapend, graph 0 to gapend, graph 1 nohead lc rgb "#2ca02c" lw 1 dt 3
    set label 2 sprintf("first probe through: +%.1f ms", gapend) at gapend, graph 0.85 offset 0.5,0 tc rgb "#2ca02c"
}
if (strlen(brk) > 0) {
    set arrow 3 from real(brk), graph 0 to real(brk), graph 1 nohead lc rgb "#9467bd" lw 2 dt 2
    set label 3 "old address removed" at real(brk), graph 0.75 offset 0.5,0 tc rgb "#9467bd"
}
set ylabel "sequence number (0 = sent at the event)"
set xlabel sprintf("time relative to the event (ms); one probe every %g ms", probems)
set key right bottom box opaque
plot dat using 1:2 with points pt 7 ps 0.4 lc rgb "#1f77b4" title "received (at arrival time)", \
     lost using 1:2 with points pt 2 ps 0.8 lc rgb "#d62728" title "lost (at send time)"
unset label 1
unset label 2
unset label 3
set ylabel "one-way delay (ms)"
set xlabel "send time relative to the event (ms)"
set logscale y
set key right top box opaque
plot dat using 4:3 with points pt 7 ps 0.4 lc rgb "#ff7f0e" title "one-way delay of each received probe"
unset multiplot
