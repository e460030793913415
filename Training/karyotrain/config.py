"""Model/training configuration: defaults merged with a JSON file (Training/configs/*.json)."""

import copy
import json

DEFAULT = {
    "name": "deepace",
    "backbone": {"depth": 18, "width": 64, "norm": "bn", "bn_eps": 1e-5, "in_channels": 1},
    "fpn": {"channels": 256, "level": "P3"},
    "anchors": {"stride": 8, "sizes": [32, 64, 96, 128],
                "aspect_ratios": [1 / 5, 1 / 4, 1 / 3, 1 / 2, 1.0, 2.0, 3.0, 4.0, 5.0]},
    "rpn": {"pre_nms_top_n": 6000, "post_nms_top_n": 300, "pre_nms_top_n_train": 6000, "post_nms_top_n_train": 2000,
            "nms_thresh": 0.7, "min_size": 1e-3, "bbox_weights": [1.0, 1.0, 1.0, 1.0],
            "sampler": "hnas-v2", "batch_size": 512, "positive_fraction": 0.25},
    "roi": {"output_size": 7, "sampling_ratio": 2, "aligned": True, "spatial_scale": 0.125},
    "box_head": {"representation_size": 1024, "num_classes": 2, "bbox_weights": [10.0, 10.0, 5.0, 5.0],
                 "score_thresh": 0.05, "min_size": 1e-2, "detections_per_img": 300,
                 "batch_size": 512, "positive_fraction": 0.25, "fg_iou": 0.5},
    "template": {"enabled": True},
    "losses": {"alpha": 0.1, "beta": 0.1, "gamma": 0.5, "theta": 0.5, "lambda": 2.0, "delta": 1.0,
               "tnrl": True, "tnrl_smooth_sigma": 0.0, "smooth_l1_beta": 1 / 9},
    "postprocess": {"method": "eg-nms", "nms_thresh": 0.5, "sigma": 0.5, "delta": 0.3, "count_threshold": 0.5},
    "input": {"mean": 200.0, "std": 60.0, "pad_multiple": 32, "pad_value": 255.0,
              "working_scale": "chromosome-width", "scale": 1.0, "target_chromosome_width": None,
              "min_factor": 0.5, "max_factor": 3.0},
    "data": {"width": 1600, "height": 1200, "synth": {}, "flip": True, "scale_jitter": [0.85, 1.15],
             "batch_size": 2, "workers": 2},
    "optim": {"lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4, "warmup_steps": 300, "grad_clip": 10.0,
              "decay_at": [0.67, 0.92]},
}

# Keys that describe inference and go into an exported config.json.
EXPORT_KEYS = ("name", "backbone", "fpn", "anchors", "rpn", "roi", "box_head", "template", "postprocess", "input")
# Keys of the rpn and box_head sections that only say how training samples: not exported, and a run started from
# trained weights may set them anew.
RPN_TRAINING_KEYS = ("sampler", "batch_size", "positive_fraction")
BOX_HEAD_TRAINING_KEYS = ("batch_size", "positive_fraction", "fg_iou")


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load(path=None, overrides=None) -> dict:
    cfg = copy.deepcopy(DEFAULT)
    if path:
        with open(path) as f:
            cfg = merge(cfg, json.load(f))
    if overrides:
        cfg = merge(cfg, overrides)
    return cfg
