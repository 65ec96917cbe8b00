"""Regenerate ``iod-types.json``: the Type (1, 2, 3) of identifying attributes per IOD.

The Annex E combined action codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) resolve by the attribute's Type
in the instance's IOD. This script reduces the module tables of the DICOM standard, as distributed
in machine-readable form by highdicom (``highdicom/_standard/*.json``, MIT licence, itself generated
from innolitics/dicom-standard), to the few IODs dental practices send and the attributes the
profile touches. Run it by hand after a standard update; dentsend only reads its output:

    python resources/deid/make_iod_types.py HIGHDICOM/_standard > resources/deid/iod-types.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydicom.datadict import dictionary_VR, keyword_for_tag

#: IODs (highdicom's names) that dental practices send, with why.
IODS = {
    "computed-radiography-image": "CR: phosphor-plate intraoral, panoramic and ceph images",
    "digital-x-ray-image": "DX: panoramic and cephalometric sensors",
    "digital-intra-oral-x-ray-image": "IO: intraoral sensors",
    "ct-image": "CT: cone-beam CT exported as classic slices",
    "enhanced-ct-image": "Enhanced CT: cone-beam CT as one multi-frame object",
    "x-ray-3d-craniofacial-image": "X-Ray 3D Craniofacial: cone-beam CT volumes",
    "secondary-capture-image": "SC: screenshots, scanned films, exported views",
    "multi-frame-single-bit-secondary-capture-image": "multi-frame SC",
    "multi-frame-grayscale-byte-secondary-capture-image": "multi-frame SC",
    "multi-frame-grayscale-word-secondary-capture-image": "multi-frame SC",
    "multi-frame-true-color-secondary-capture-image": "multi-frame SC",
    "vl-photographic-image": "VL Photographic: intraoral and extraoral photos",
    "video-photographic-image": "Video Photographic",
    "vl-endoscopic-image": "VL Endoscopic: intraoral camera stills",
    "ultrasound-image": "US",
    "ultrasound-multi-frame-image": "US multi-frame",
}
#: Modules nearly every image IOD has: the fallback for an IOD not listed above.
COMMON_MODULES = [
    "patient",
    "clinical-trial-subject",
    "general-study",
    "patient-study",
    "general-series",
    "frame-of-reference",
    "general-equipment",
    "general-acquisition",
    "general-image",
    "general-reference",
    "image-pixel",
    "sop-common",
    "common-instance-reference",
]
#: Value representations checked even where Annex E does not list the attribute (names, free
#: text, dates and times), see dentsend.deid.dicom.
EXTRA_VRS = {"PN", "LT", "ST", "UT", "DA", "DT", "TM"}
#: Dates that version a code set, not an event: never touched, so not listed.
STRUCTURAL = {"ContextGroupVersion", "ContextGroupLocalVersion"}
STRICTNESS = {"1": 1, "1C": 1, "2": 2, "2C": 2}


def main(folder: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    annex = json.loads(
        (repo / "resources/annex-e/annex-e-confidentiality-2024b.json").read_text("utf-8")
    )
    listed = {
        keyword_for_tag(int(row["id"], 16))
        for row in annex
        if row["id"].isalnum() and "x" not in row["id"]
    }
    listed.discard("")
    sops = json.loads((folder / "sop_class_iod_map.json").read_text("utf-8"))
    iods = json.loads((folder / "iod_module_map.json").read_text("utf-8"))
    modules = json.loads((folder / "module_attribute_map.json").read_text("utf-8"))

    def relevant(keyword: str) -> bool:
        if keyword in STRUCTURAL:
            return False
        if keyword in listed:
            return True
        try:
            from pydicom.datadict import tag_for_keyword

            tag = tag_for_keyword(keyword)
            return tag is not None and dictionary_VR(tag) in EXTRA_VRS
        except KeyError:
            return False

    def types_of(module_names: list[str]) -> dict[str, int]:
        types: dict[str, int] = {}
        for name in module_names:
            for attribute in modules.get(name, []):
                keyword = attribute["keyword"]
                if not relevant(keyword):
                    continue
                level = STRICTNESS.get(str(attribute["type"]), 3)
                if level == 3:
                    continue  # Type 3 is the default: not stored
                key = ">".join([*attribute["path"][-1:], keyword])
                types[key] = min(level, types.get(key, 3))
        return dict(sorted(types.items()))

    out = {
        "source": (
            "DICOM PS3.3 module tables via highdicom/_standard (MIT) from "
            "innolitics/dicom-standard; regenerate with make_iod_types.py"
        ),
        "sop_classes": {uid: iod for uid, iod in sorted(sops.items()) if iod in IODS},
        "iods": {iod: types_of([module["key"] for module in iods[iod]]) for iod in sorted(IODS)},
        "common": types_of(COMMON_MODULES),
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
