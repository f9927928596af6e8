/* The rvmmatte element's recurrent state and timing in a real pipeline, driven through the
 * GStreamer API (what gst-launch cannot do: seeks, signals, changes while playing):
 *
 *   filesrc CLIP ! decodebin ! videoconvert ! RGB ! rvmmatte output=alpha (ratio 0.25) ! appsink
 *
 *   pass 1  from the start; the "reset" signal is emitted just before frame S
 *   pass 2  flushing seek to 0: frames before S equal pass 1's (the seek forgot the state
 *           pass 1 ended with), frame S does not (pass 1 forgot its history there)
 *   pass 3  flushing seek to frame S: equals pass 1 from S on (both start from zero there)
 *   pass 4  seek to 0; downsample-ratio set to 0.5 just before frame S: frames before S equal
 *           pass 1's, frame S differs (the change took effect at that frame)
 *   pass 5  seek to S (ratio still 0.5): frame S equals pass 4's
 * In every pass each output buffer has the timestamp and duration of its input buffer.
 * CLIP must have FRAMES frames, each a key frame (the test makes an FFV1 clip).
 *
 * usage: test_gst_state CLIP   (GST_PLUGIN_PATH must lead to the plugin)
 * SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#define FRAMES 8 /* frames of the clip */
#define S 4      /* the frame where things happen */

typedef struct {
    GstClockTime pts[64], duration[64];
    int count;
} timing;

typedef struct {
    GstElement *matte;
    int pass;
    timing in;              /* what entered the element in this pass */
    GstClockTime frame_s, frame_s_duration; /* of frame S (learnt in pass 1) */
} state;

static int failures;

static void check(int cond, const char *what)
{
    printf("%s: %s\n", cond ? "ok" : "FAIL", what);
    if (!cond)
        failures++;
}

/* Runs in the streaming thread just before the element gets the buffer. */
static GstPadProbeReturn on_input(GstPad *pad, GstPadProbeInfo *info, gpointer user)
{
    (void)pad;
    state *st = user;
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER(info);
    int i = st->in.count;
    if (i < 64) {
        st->in.pts[i] = GST_BUFFER_PTS(buf);
        st->in.duration[i] = GST_BUFFER_DURATION(buf);
        st->in.count++;
    }
    if (st->pass == 1 && i == S) {
        st->frame_s = GST_BUFFER_PTS(buf);
        st->frame_s_duration = GST_BUFFER_DURATION(buf);
        g_signal_emit_by_name(st->matte, "reset");
    }
    if (st->pass == 4 && i == S)
        g_object_set(st->matte, "downsample-ratio", 0.5, NULL);
    return GST_PAD_PROBE_OK;
}

typedef struct {
    guint8 *data[FRAMES];
    gsize size[FRAMES];
    GstClockTime pts[FRAMES], duration[FRAMES];
    int count;
} pass_result;

static void free_pass(pass_result *p)
{
    for (int i = 0; i < p->count; i++)
        g_free(p->data[i]);
    memset(p, 0, sizeof *p);
}

/* Pulls the mattes up to the end (want of them) and checks that their times are their
 * inputs'. */
static void pull(GstElement *sink, state *st, pass_result *p, int want, const char *name)
{
    while (p->count < FRAMES) {
        GstSample *sample = gst_app_sink_pull_sample(GST_APP_SINK(sink));
        if (!sample)
            break;
        GstBuffer *buf = gst_sample_get_buffer(sample);
        GstMapInfo map;
        if (gst_buffer_map(buf, &map, GST_MAP_READ)) {
            int i = p->count++;
            p->data[i] = g_memdup2(map.data, map.size);
            p->size[i] = map.size;
            p->pts[i] = GST_BUFFER_PTS(buf);
            p->duration[i] = GST_BUFFER_DURATION(buf);
            gst_buffer_unmap(buf, &map);
        }
        gst_sample_unref(sample);
    }
    char what[160];
    snprintf(what, sizeof what, "pass %s: %d frames", name, p->count);
    check(p->count == want, what);
    int same = p->count <= st->in.count;
    for (int i = 0; same && i < p->count; i++)
        same = p->pts[i] == st->in.pts[i] && p->duration[i] == st->in.duration[i] &&
               GST_CLOCK_TIME_IS_VALID(p->pts[i]);
    snprintf(what, sizeof what, "pass %s: every output has its input's timestamp and duration",
             name);
    check(same, what);
}

/* The same matte; after a seek into frame S its timestamp is clipped to the seek position,
 * so passes starting there are compared by picture and order only. */
static int same_picture(const pass_result *a, int i, const pass_result *b, int j)
{
    return i < a->count && j < b->count && a->size[i] == b->size[j] &&
           memcmp(a->data[i], b->data[j], a->size[i]) == 0;
}

static int same_frame(const pass_result *a, int i, const pass_result *b, int j)
{
    return same_picture(a, i, b, j) && a->pts[i] == b->pts[j];
}

static void seek_to(GstElement *pipeline, state *st, GstClockTime t, int pass)
{
    st->pass = pass;
    st->in.count = 0;
    /* The streaming thread is blocked in appsink; a flushing seek unblocks it. */
    if (!gst_element_seek_simple(pipeline, GST_FORMAT_TIME,
                                 GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, (gint64)t)) {
        printf("FAIL: seek to %" GST_TIME_FORMAT " refused\n", GST_TIME_ARGS(t));
        exit(1);
    }
}

/* output changed to alpha while playing, before a caps filter of RGBA: the renegotiation
 * fails, and the element says why (it was only a generic "not-negotiated" from the source). */
static void output_change_refused(void)
{
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(
        "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! "
        "rvmmatte name=matte threads=1 ! capsfilter caps=video/x-raw,format=RGBA ! fakesink",
        &error);
    if (!pipeline || error) {
        check(0, "the RGBA pipeline can be made");
        g_clear_error(&error);
        return;
    }
    GstElement *matte = gst_bin_get_by_name(GST_BIN(pipeline), "matte");
    gst_element_set_state(pipeline, GST_STATE_PLAYING);
    gst_element_get_state(pipeline, NULL, NULL, 30 * GST_SECOND);
    g_object_set(matte, "output", 2 /* alpha */, NULL);
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *msg = gst_bus_timed_pop_filtered(bus, 30 * GST_SECOND, GST_MESSAGE_ERROR);
    GError *e = NULL;
    if (msg)
        gst_message_parse_error(msg, &e, NULL);
    int from_matte = msg && GST_MESSAGE_SRC(msg) == GST_OBJECT(matte);
    char what[400];
    snprintf(what, sizeof what, "output=alpha before RGBA while playing: the element's error: %s",
             e ? e->message : "(none)");
    check(from_matte && e && strstr(e->message, "output=alpha gives GRAY8 or GRAY16_LE, which "
                                                "downstream does not take (it takes RGBA)"),
          what);
    g_clear_error(&e);
    if (msg)
        gst_message_unref(msg);
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(bus);
    gst_object_unref(matte);
    gst_object_unref(pipeline);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_gst_state CLIP\n");
        return 2;
    }
    gst_init(NULL, NULL);
    gchar *loc = g_strescape(argv[1], NULL);
    gchar *desc = g_strdup_printf(
        "filesrc location=\"%s\" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! "
        "rvmmatte name=matte output=alpha threads=2 downsample-ratio=0.25 ! video/x-raw,format=GRAY8 ! "
        "appsink name=sink sync=false max-buffers=2",
        loc);
    GError *error = NULL;
    GstElement *pipeline = gst_parse_launch(desc, &error);
    g_free(desc);
    g_free(loc);
    if (!pipeline || error) {
        printf("FAIL: cannot make the pipeline: %s\n", error ? error->message : "?");
        return 1;
    }
    state st = {0};
    st.matte = gst_bin_get_by_name(GST_BIN(pipeline), "matte");
    GstElement *sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    GstPad *pad = gst_element_get_static_pad(st.matte, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, on_input, &st, NULL);
    gst_object_unref(pad);

    st.pass = 1;
    gst_element_set_state(pipeline, GST_STATE_PAUSED);
    if (gst_element_get_state(pipeline, NULL, NULL, 30 * GST_SECOND) == GST_STATE_CHANGE_FAILURE) {
        printf("FAIL: the pipeline does not preroll\n");
        return 1;
    }
    gst_element_set_state(pipeline, GST_STATE_PLAYING);

    pass_result p1 = {0}, p2 = {0}, p3 = {0}, p4 = {0}, p5 = {0};
    pull(sink, &st, &p1, FRAMES, "1 (reset signal at frame S)");
    check(GST_CLOCK_TIME_IS_VALID(st.frame_s) && st.frame_s > 0 &&
              GST_CLOCK_TIME_IS_VALID(st.frame_s_duration),
          "frame S has a timestamp and a duration");

    seek_to(pipeline, &st, 0, 2);
    pull(sink, &st, &p2, FRAMES, "2 (seek to 0)");
    int before = 1;
    for (int i = 0; i < S; i++)
        before &= same_frame(&p1, i, &p2, i);
    check(before, "after a seek to 0 the mattes are the first run's (the seek reset the state)");
    check(!same_frame(&p1, S, &p2, S),
          "frame S differs between a run reset there and a run with history (the signal "
          "reset the state)");

    /* Into the middle of frame S: the frame before ends after S's timestamp (containers
     * round times) and would overlap a segment starting exactly there. */
    GstClockTime mid_s = st.frame_s + st.frame_s_duration / 2;
    seek_to(pipeline, &st, mid_s, 3);
    pull(sink, &st, &p3, FRAMES - S, "3 (seek to frame S)");
    int from_s = 1;
    for (int i = 0; i < FRAMES - S; i++)
        from_s &= same_picture(&p1, S + i, &p3, i);
    check(from_s, "after a seek to frame S the mattes are those of the run reset at S");

    seek_to(pipeline, &st, 0, 4);
    pull(sink, &st, &p4, FRAMES, "4 (ratio changed at frame S)");
    before = 1;
    for (int i = 0; i < S; i++)
        before &= same_frame(&p1, i, &p4, i);
    check(before, "frames before the ratio change are unchanged");
    check(!same_frame(&p1, S, &p4, S) && !same_frame(&p2, S, &p4, S),
          "the new downsample-ratio applies from the next frame");

    seek_to(pipeline, &st, mid_s, 5);
    pull(sink, &st, &p5, FRAMES - S, "5 (seek to frame S at ratio 0.5)");
    check(same_picture(&p4, S, &p5, 0), "frame S at ratio 0.5 is the same whichever way it came");

    gst_element_set_state(pipeline, GST_STATE_NULL);
    GstBus *bus = gst_element_get_bus(pipeline);
    GstMessage *msg;
    while ((msg = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR))) {
        GError *e = NULL;
        gst_message_parse_error(msg, &e, NULL);
        printf("FAIL: pipeline error: %s\n", e ? e->message : "?");
        g_clear_error(&e);
        gst_message_unref(msg);
        failures++;
    }
    gst_object_unref(bus);
    free_pass(&p1);
    free_pass(&p2);
    free_pass(&p3);
    free_pass(&p4);
    free_pass(&p5);
    gst_object_unref(sink);
    gst_object_unref(st.matte);
    gst_object_unref(pipeline);
    output_change_refused();
    gst_deinit();
    printf("%s\n", failures ? "FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
