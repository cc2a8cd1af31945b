"""Test oracle: a line-by-line Python 3 transcription of the original DaSiamRPN inference
(foolwood/DaSiamRPN ``code/run_SiamRPN.py`` + ``utils.get_subwindow_tracking``), with Python 2
semantics made explicit (integer division, round half away from zero). It runs the *unfolded*
network exactly as ``net.py`` does. Used to check the project's tracker on cases the shared
reference trajectories do not cover (otb preset, 287 search, rounding ties, the 10 px clip).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def round2(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def generate_anchor(total_stride, scales, ratios, score_size):
    anchor_num = len(ratios) * len(scales)
    anchor = np.zeros((anchor_num, 4), dtype=np.float32)
    size = total_stride * total_stride
    count = 0
    for ratio in ratios:
        ws = int(np.sqrt(size / ratio))
        hs = int(ws * ratio)
        for scale in scales:
            anchor[count, 2] = ws * scale
            anchor[count, 3] = hs * scale
            count += 1
    anchor = np.tile(anchor, score_size * score_size).reshape((-1, 4))
    ori = - (score_size // 2) * total_stride
    xx, yy = np.meshgrid([ori + total_stride * dx for dx in range(score_size)],
                         [ori + total_stride * dy for dy in range(score_size)])
    xx, yy = np.tile(xx.flatten(), (anchor_num, 1)).flatten(), np.tile(yy.flatten(), (anchor_num, 1)).flatten()
    anchor[:, 0], anchor[:, 1] = xx.astype(np.float32), yy.astype(np.float32)
    return anchor


def get_subwindow_tracking(im, pos, model_sz, original_sz, avg_chans):
    sz = original_sz
    im_sz = im.shape
    c = (original_sz + 1) / 2
    context_xmin = round2(pos[0] - c)
    context_xmax = context_xmin + sz - 1
    context_ymin = round2(pos[1] - c)
    context_ymax = context_ymin + sz - 1
    left_pad = int(max(0., -context_xmin))
    top_pad = int(max(0., -context_ymin))
    right_pad = int(max(0., context_xmax - im_sz[1] + 1))
    bottom_pad = int(max(0., context_ymax - im_sz[0] + 1))
    context_xmin += left_pad
    context_xmax += left_pad
    context_ymin += top_pad
    context_ymax += top_pad
    r, c, k = im.shape
    if any([top_pad, bottom_pad, left_pad, right_pad]):
        te_im = np.zeros((r + top_pad + bottom_pad, c + left_pad + right_pad, k), np.uint8)
        te_im[top_pad:top_pad + r, left_pad:left_pad + c, :] = im
        if top_pad:
            te_im[0:top_pad, left_pad:left_pad + c, :] = avg_chans
        if bottom_pad:
            te_im[r + top_pad:, left_pad:left_pad + c, :] = avg_chans
        if left_pad:
            te_im[:, 0:left_pad, :] = avg_chans
        if right_pad:
            te_im[:, c + left_pad:, :] = avg_chans
        patch = te_im[int(context_ymin):int(context_ymax + 1), int(context_xmin):int(context_xmax + 1), :]
    else:
        patch = im[int(context_ymin):int(context_ymax + 1), int(context_xmin):int(context_xmax + 1), :]
    if not np.array_equal(model_sz, original_sz):
        patch = cv2.resize(patch, (model_sz, model_sz))
    return torch.from_numpy(np.transpose(patch, (2, 0, 1))).float()


class OriginalTracker:
    """SiamRPN_init / SiamRPN_track with the net's cfg dict (lr, window_influence, penalty_k,
    instance_size, adaptive)."""

    exemplar_size, total_stride, context_amount = 127, 8, 0.5
    ratios, scales = [0.33, 0.5, 1, 2, 3], [8]

    def __init__(self, net, cfg):
        self.net, self.cfg = net.eval(), dict(cfg)

    @torch.no_grad()
    def init(self, im, target_pos, target_sz):
        cfg = self.cfg
        self.im_h, self.im_w = im.shape[:2]
        self.instance_size = cfg["instance_size"]
        if cfg["adaptive"]:
            small = (target_sz[0] * target_sz[1]) / float(self.im_h * self.im_w) < 0.004
            self.instance_size = 287 if small else 271
        self.score_size = (self.instance_size - self.exemplar_size) // self.total_stride + 1
        self.anchor = generate_anchor(self.total_stride, self.scales, self.ratios, self.score_size)
        self.avg_chans = np.mean(im, axis=(0, 1))
        wc_z = target_sz[0] + self.context_amount * sum(target_sz)
        hc_z = target_sz[1] + self.context_amount * sum(target_sz)
        s_z = round2(np.sqrt(wc_z * hc_z))
        z = get_subwindow_tracking(im, target_pos, self.exemplar_size, s_z, self.avg_chans).unsqueeze(0)
        self.kernels = self.net.template_kernels(self.net.featureExtract(z))
        window = np.outer(np.hanning(self.score_size), np.hanning(self.score_size))
        self.window = np.tile(window.flatten(), 5)
        self.target_pos, self.target_sz = np.array(target_pos, float), np.array(target_sz, float)

    @torch.no_grad()
    def track(self, im):
        cfg = self.cfg
        target_pos, target_sz = self.target_pos, self.target_sz
        wc_z = target_sz[1] + self.context_amount * sum(target_sz)
        hc_z = target_sz[0] + self.context_amount * sum(target_sz)
        s_z = np.sqrt(wc_z * hc_z)
        scale_z = self.exemplar_size / s_z
        d_search = (self.instance_size - self.exemplar_size) // 2
        pad = d_search / scale_z
        s_x = s_z + 2 * pad
        x = get_subwindow_tracking(im, target_pos, self.instance_size, round2(s_x), self.avg_chans).unsqueeze(0)
        delta, score = self.net.head(self.net.featureExtract(x), *self.kernels)
        delta = delta.permute(1, 2, 3, 0).contiguous().view(4, -1).numpy()
        score = F.softmax(score.permute(1, 2, 3, 0).contiguous().view(2, -1), dim=0)[1, :].numpy()
        a = self.anchor
        delta[0, :] = delta[0, :] * a[:, 2] + a[:, 0]
        delta[1, :] = delta[1, :] * a[:, 3] + a[:, 1]
        delta[2, :] = np.exp(delta[2, :]) * a[:, 2]
        delta[3, :] = np.exp(delta[3, :]) * a[:, 3]

        def change(r):
            return np.maximum(r, 1. / r)

        def sz(w, h):
            pad = (w + h) * 0.5
            return np.sqrt((w + pad) * (h + pad))

        tsz = target_sz * scale_z
        s_c = change(sz(delta[2, :], delta[3, :]) / sz(tsz[0], tsz[1]))
        r_c = change((tsz[0] / tsz[1]) / (delta[2, :] / delta[3, :]))
        penalty = np.exp(-(r_c * s_c - 1.) * cfg["penalty_k"])
        pscore = penalty * score
        pscore = pscore * (1 - cfg["window_influence"]) + self.window * cfg["window_influence"]
        best = np.argmax(pscore)
        target = delta[:, best] / scale_z
        tsz = tsz / scale_z
        lr = penalty[best] * score[best] * cfg["lr"]
        pos = np.array([target[0] + target_pos[0], target[1] + target_pos[1]])
        size = np.array([tsz[0] * (1 - lr) + target[2] * lr, tsz[1] * (1 - lr) + target[3] * lr])
        pos[0] = max(0, min(self.im_w, pos[0]))
        pos[1] = max(0, min(self.im_h, pos[1]))
        size[0] = max(10, min(self.im_w, size[0]))
        size[1] = max(10, min(self.im_h, size[1]))
        self.target_pos, self.target_sz = pos, size
        return pos, size, float(score[best])
