"""DeepACEv2 (paper Sections 2.1-2.4): ResNet + FPN (P3 only), RPN, RoIAlign, two-FC box head, Template Module.

This is THE reference definition; Training/MODEL.md documents every inference step for the Swift engine.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import intensity
from . import rescore as rescoring
from . import scale as working_scale
from .anchors import base_anchors, grid_anchors
from .boxes import clip_boxes, decode, keep_min_size
from .frame import field_of_view, inside_frame
from .nms import embedding_guided_nms, nms, soft_nms
from .resnet import ResNet
from .roi_align import roi_align, roi_align_grid_sample
from .template import TemplateModule


class FPN(nn.Module):
    """Top-down pathway over C3-C5 emitting P3 only (MODEL.md step 6)."""

    def __init__(self, in_channels, channels=256):
        super().__init__()
        self.inner3 = nn.Conv2d(in_channels[0], channels, 1)
        self.inner4 = nn.Conv2d(in_channels[1], channels, 1)
        self.inner5 = nn.Conv2d(in_channels[2], channels, 1)
        self.layer3 = nn.Conv2d(channels, channels, 3, padding=1)
        for m in self.children():
            nn.init.kaiming_uniform_(m.weight, a=1)
            nn.init.zeros_(m.bias)

    def forward(self, c3, c4, c5):
        l5 = self.inner5(c5)
        l4 = self.inner4(c4)
        l4 = l4 + F.interpolate(l5, size=l4.shape[-2:], mode="nearest")
        l3 = self.inner3(c3)
        l3 = l3 + F.interpolate(l4, size=l3.shape[-2:], mode="nearest")
        return self.layer3(l3)


class RPNHead(nn.Module):
    def __init__(self, channels, num_anchors):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(channels, 4 * num_anchors, 1)
        for m in self.children():
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    def forward(self, p3):
        t = torch.relu(self.conv(p3))
        return self.cls_logits(t), self.bbox_pred(t)


class RoIHeads(nn.Module):
    """Two-FC box head (cls_score, class-specific bbox_pred) and the Template Module branch."""

    def __init__(self, channels, size, representation, num_classes, template: bool):
        super().__init__()
        self.fc6 = nn.Linear(channels * size * size, representation)
        self.fc7 = nn.Linear(representation, representation)
        self.cls_score = nn.Linear(representation, num_classes)
        self.bbox_pred = nn.Linear(representation, 4 * num_classes)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.zeros_(self.bbox_pred.bias)
        self.template = TemplateModule(channels, size) if template else None

    def forward(self, roi_features):
        x = torch.relu(self.fc6(roi_features.flatten(1)))
        x = torch.relu(self.fc7(x))
        emb = self.template(roi_features) if self.template is not None else None
        return self.cls_score(x), self.bbox_pred(x), emb


def flatten_rpn(logits, deltas):
    """(N,A,H,W),(N,4A,H,W) -> (N,H*W*A), (N,H*W*A,4): index (y*W + x)*A + a."""
    n, a, h, w = logits.shape
    lo = logits.permute(0, 2, 3, 1).reshape(n, -1)
    de = deltas.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
    return lo, de


class DeepACE(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        self.rescorer = None  # rescore.Rescorer of an exported model folder (export.load_exported)
        ch = cfg["fpn"]["channels"]
        self.backbone = ResNet(cfg["backbone"]["depth"], cfg["backbone"].get("in_channels", 1),
                               cfg["backbone"].get("width", 64))
        self.fpn = FPN(self.backbone.out_channels, ch)
        base = base_anchors(cfg["anchors"]["sizes"], cfg["anchors"]["aspect_ratios"])
        self.register_buffer("base_anchors", base, persistent=False)
        self.rpn = RPNHead(ch, base.shape[0])
        r = cfg["roi"]["output_size"]
        bh = cfg["box_head"]
        self.roi_heads = RoIHeads(ch, r, bh["representation_size"], bh["num_classes"], cfg["template"]["enabled"])

    # ---------------------------------------------------------------- shared pieces
    def features(self, x):
        c3, c4, c5 = self.backbone(x)
        return c3, c4, c5, self.fpn(c3, c4, c5)

    def anchors_for(self, p3):
        return grid_anchors(self.base_anchors.cpu(), p3.shape[-2], p3.shape[-1],
                            self.cfg["anchors"]["stride"]).to(p3.device)

    def proposals(self, logits, deltas, anchors, size, training: bool):
        """MODEL.md step 9 for one image: (boxes, scores) in descending score order."""
        r = self.cfg["rpn"]
        pre = r["pre_nms_top_n_train"] if training else r["pre_nms_top_n"]
        post = r["post_nms_top_n_train"] if training else r["post_nms_top_n"]
        k = min(pre, logits.numel())
        top, idx = torch.topk(logits, k, sorted=True)
        boxes = decode(deltas[idx], anchors[idx], r["bbox_weights"])
        scores = torch.sigmoid(top)
        boxes = clip_boxes(boxes, size[0], size[1])
        keep = keep_min_size(boxes, r["min_size"])
        boxes, scores = boxes[keep], scores[keep]
        keep = nms(boxes, scores, r["nms_thresh"], post).to(boxes.device)
        return boxes[keep], scores[keep]

    def roi_forward(self, p3, boxes, batch_index):
        r = self.cfg["roi"]
        # Training samples through grid_sample (same values for boxes inside the image, faster backward).
        align = roi_align_grid_sample if self.training else roi_align
        feats = align(p3, boxes, batch_index, r["output_size"], r["spatial_scale"], r["sampling_ratio"])
        return (feats, *self.roi_heads(feats))

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def detect_tensor(self, x, size, trace=None):
        """Runs steps 5-15 on a normalized, padded (1,1,Hp,Wp) tensor; size = unpadded (H1, W1)."""
        c3, c4, c5, p3 = self.features(x)
        logits_map, deltas_map = self.rpn(p3)
        anchors = self.anchors_for(p3)
        lo, de = flatten_rpn(logits_map, deltas_map)
        props, pscores = self.proposals(lo[0], de[0], anchors, size, training=False)
        bidx = torch.zeros(props.shape[0], dtype=torch.long, device=x.device)
        feats, cls, bbox, emb = self.roi_forward(p3, props, bidx)
        scores = torch.softmax(cls, dim=1)[:, 1]
        bh = self.cfg["box_head"]
        boxes = clip_boxes(decode(bbox[:, 4:8], props, bh["bbox_weights"]), size[0], size[1])
        if emb is None:
            emb = torch.zeros_like(scores)
        cand = torch.where(scores > bh["score_thresh"])[0]
        cand = cand[keep_min_size(boxes[cand], bh["min_size"])]
        det_idx, det_scores = self.postprocess(boxes[cand], scores[cand], emb[cand])
        det_idx = cand[det_idx]
        if trace is not None:
            trace.update(input=x, c3=c3, c4=c4, c5=c5, p3=p3, rpn_logits=logits_map, rpn_deltas=deltas_map,
                         anchors=anchors, proposals=props, proposal_scores=pscores, roi_features=feats,
                         box_logits=cls, box_deltas=bbox, box_scores=scores, box_boxes=boxes, embeddings=emb,
                         candidates=cand, det_index=det_idx)
        return boxes[det_idx], det_scores, emb[det_idx], scores[det_idx]

    def postprocess(self, boxes, scores, emb):
        p = self.cfg["postprocess"]
        top = self.cfg["box_head"]["detections_per_img"]
        method = p["method"]
        if method == "nms":
            keep = nms(boxes, scores, p["nms_thresh"], top).to(boxes.device)
            return keep.to(boxes.device), scores[keep]
        if method == "soft-nms":
            idx, s = soft_nms(boxes.cpu(), scores.cpu(), p["sigma"], top)
        elif method == "eg-nms":
            idx, s = embedding_guided_nms(boxes.cpu(), scores.cpu(), emb.cpu(), p["delta"], p["sigma"], top)
        else:
            raise ValueError(f"unknown postprocess.method {method!r} (nms, soft-nms, eg-nms)")
        return idx.to(boxes.device), s.to(boxes.device)


def prepare(image, cfg: dict, factor=None):
    """MODEL.md steps 1-4 (and 2a): grey image (H0,W0) -> normalized padded (1,1,Hp,Wp), unpadded size, (sy, sx), factor."""
    inp = cfg["input"]
    img = torch.as_tensor(np.asarray(image, dtype=np.float32))
    h0, w0 = img.shape
    if factor is None:
        factor = working_scale.working_factor(np.asarray(image), inp)
    h1, w1 = working_scale.output_size(h0, w0, factor)
    gain, offset = intensity.linear_map(image, inp)
    img = working_scale.resize(img, (h1, w1)) * gain + offset
    m = inp["pad_multiple"]
    hp, wp = int(math.ceil(h1 / m) * m), int(math.ceil(w1 / m) * m)
    padded = torch.full((hp, wp), float(inp["pad_value"]), dtype=torch.float32)
    padded[:h1, :w1] = img
    x = (padded - float(inp["mean"])) / float(inp["std"])
    return x[None, None], (h1, w1), (h1 / h0, w1 / w0), factor


@torch.no_grad()
def detect(model: DeepACE, image, trace=None, factor=None, device="cpu", frame_filter=True, rescore=True) -> dict:
    """Full inference on one grey image (H,W), values 0..255; boxes in source pixels. With frame_filter, boxes
    that reach a CytoVision frame line are dropped (MODEL.md step 17; the trace keeps them, and the field). With
    rescore and a model that has a rescorer, `scores` are its probabilities (step 18) and `network_scores` the box
    head's; otherwise `scores` are post-processing's."""
    cfg = model.cfg
    x, size, (sy, sx), factor = prepare(image, cfg, factor)
    boxes, scores, emb, net_scores = model.detect_tensor(x.to(device), size, trace)
    boxes, scores, emb, net_scores = boxes.cpu(), scores.cpu(), emb.cpu(), net_scores.cpu()
    src = boxes / torch.tensor([sx, sy, sx, sy], dtype=boxes.dtype)
    if trace is not None:
        trace.update(det_boxes=boxes, det_scores=scores, det_embeddings=emb, det_boxes_source=src,
                     factor=factor, size=size)
    if frame_filter:  # step 17: a neighbouring cell's chromosomes cut by the CytoVision frame line
        h0, w0 = np.asarray(image).shape[:2]
        scale = torch.tensor([sx, sy, sx, sy], dtype=torch.float64)
        field = field_of_view(image)
        if trace is not None:
            trace["field"] = field
        keep = torch.from_numpy(inside_frame(boxes.double() / scale, field, w0, h0))
        src, scores, emb, net_scores = src[keep], scores[keep], emb[keep], net_scores[keep]
    out = {"boxes": src, "scores": scores, "embeddings": emb, "network_scores": net_scores, "factor": factor}
    if rescore and model.rescorer is not None:
        width = float(cfg["input"]["target_chromosome_width"]) / factor
        x = rescoring.features(src.numpy(), scores.numpy(), net_scores.numpy(), emb.numpy(), width, image)
        p = model.rescorer.probability(x)
        order = torch.from_numpy(np.argsort(-p, kind="stable"))  # by descending probability, ties keep their rank
        out.update(boxes=src[order], embeddings=emb[order], network_scores=net_scores[order],
                   postprocess_scores=scores[order], scores=torch.from_numpy(p)[order])
        if trace is not None:
            trace.update(rescore_features=x, rescore_order=order)
    out["count"] = int((out["scores"] >= cfg["postprocess"]["count_threshold"]).sum())
    return out
