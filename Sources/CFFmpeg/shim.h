// FFmpeg 5.1 headers plus static inline wrappers for the macros Swift cannot import.
#pragma once
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavutil/avutil.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/channel_layout.h>
#include <libavutil/error.h>

static inline int cffmpeg_averror(int code) { return AVERROR(code); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline AVChannelLayout cffmpeg_channel_layout_mono(void) { AVChannelLayout l = AV_CHANNEL_LAYOUT_MONO; return l; }

// ---- Media module helpers (static inline; no state). ----
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_averror_enomem(void) { return AVERROR(ENOMEM); }

/// Maps the deprecated full-range JPEG formats (yuvj4xxp) to yuv4xxp; sets *fullRange to 1 when it did.
static inline int cffmpeg_normalize_pixfmt(int fmt, int *fullRange) {
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P: *fullRange = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *fullRange = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *fullRange = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *fullRange = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *fullRange = 1; return AV_PIX_FMT_YUV411P;
    default: return fmt;
    }
}

/// Sets the source (and destination) colour range of a scaler; 1 = full (JPEG) range, 0 = limited.
static inline int cffmpeg_sws_set_ranges(struct SwsContext *c, int srcFull, int dstFull) {
    int *invTable, srcRange, *table, dstRange, brightness, contrast, saturation;
    if (sws_getColorspaceDetails(c, &invTable, &srcRange, &table, &dstRange, &brightness, &contrast, &saturation) < 0)
        return -1;
    return sws_setColorspaceDetails(c, invTable, srcFull, table, dstFull, brightness, contrast, saturation);
}

/// Scales a decoded frame into one packed destination plane (e.g. RGB24).
static inline int cffmpeg_sws_scale_frame_to_packed(struct SwsContext *c, const AVFrame *src, uint8_t *dst, int dstStride) {
    uint8_t *dstPlanes[4] = { dst, NULL, NULL, NULL };
    int dstStrides[4] = { dstStride, 0, 0, 0 };
    return sws_scale(c, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dstPlanes, dstStrides);
}

/// Scales one packed source plane (e.g. RGB24) into a frame's planes (e.g. YUV420P for an encoder).
static inline int cffmpeg_sws_scale_packed_to_frame(struct SwsContext *c, const uint8_t *src, int srcStride, int srcHeight, AVFrame *dst) {
    const uint8_t *srcPlanes[4] = { src, NULL, NULL, NULL };
    int srcStrides[4] = { srcStride, 0, 0, 0 };
    return sws_scale(c, srcPlanes, srcStrides, 0, srcHeight, dst->data, dst->linesize);
}

/// Converts a decoded audio frame into an interleaved output buffer; returns samples per channel written.
static inline int cffmpeg_swr_convert_frame(SwrContext *s, uint8_t *out, int outCount, const AVFrame *in) {
    uint8_t *outPlanes[1] = { out };
    if (in == NULL) return swr_convert(s, outPlanes, outCount, NULL, 0);
    return swr_convert(s, outPlanes, outCount, (const uint8_t **)in->extended_data, in->nb_samples);
}

/// Converts interleaved input samples into an interleaved output buffer (input NULL flushes).
static inline int cffmpeg_swr_convert_packed(SwrContext *s, uint8_t *out, int outCount, const uint8_t *in, int inCount) {
    uint8_t *outPlanes[1] = { out };
    const uint8_t *inPlanes[1] = { in };
    return swr_convert(s, outPlanes, outCount, in ? inPlanes : NULL, inCount);
}
