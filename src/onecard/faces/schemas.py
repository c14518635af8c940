"""API types of face pay: enrolment, its status, a terminal's liveness declaration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictStr

# A JPEG of a face crop (about 45 KB) or a phone photo scaled down; larger photos go
# through the /me page (a multipart upload). These paths take bodies up to the upload
# limit (``web.app.UPLOAD_PATHS``), so a long field is a 422, never a 413.
MAX_IMAGE_B64 = 60_000
_NULL: dict[str, JsonValue] = {"type": "null"}
# A face: exactly one of a picture and a descriptor (``faces.service.enrol``,
# ``pay.face_pay``), as the document says it.
ONE_OF_FACE: list[JsonValue] = [
    {
        "title": "a picture",
        "required": ["image_b64"],
        "properties": {"image_b64": {"type": "string"}, "descriptor": _NULL},
    },
    {
        "title": "a descriptor",
        "required": ["descriptor"],
        "properties": {"descriptor": {"type": "array"}, "image_b64": _NULL},
    },
]
# A dlib descriptor's numbers (each within ±1; their length is about 1).
DescriptorValue = Annotated[float, Field(ge=-1.0, le=1.0)]


class FaceEnrolIn(BaseModel):
    """Give exactly one of ``image_b64`` (a JPEG/PNG, base64) and ``descriptor``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": ONE_OF_FACE})
    consent: StrictBool = Field(
        default=False,
        description="the person consents now (purpose and retention shown); "
        "needed unless a consent is already recorded",
    )
    image_b64: StrictStr | None = Field(default=None, max_length=MAX_IMAGE_B64)
    descriptor: list[DescriptorValue] | None = Field(default=None, min_length=128, max_length=128)


class FaceStatusOut(BaseModel):
    person_id: int
    consent: bool
    consent_at: datetime | None = None
    enrolled: bool
    enrolled_at: datetime | None = None


class FaceWithdrawOut(BaseModel):
    person_id: int
    deleted: bool = Field(description="a face template was held and is now deleted")


class LivenessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    liveness: StrictBool = Field(description="the terminal runs liveness detection")


class LivenessOut(BaseModel):
    code: str
    liveness: bool
