"""Photos sent with a request (the doctor's letter): checked, re-encoded, stored.

Pillow decodes the image and encodes it again, so what is kept carries no EXIF block (GPS
position, phone model, time) and nothing but pixels; anything Pillow cannot decode is refused.
"""

from __future__ import annotations

import io
import secrets
import warnings
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from backend.db import attachments, utcnow
from backend.errors import ApiError

MAX_BYTES = 2 * 1024 * 1024
TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_PIXELS = 40_000_000  # a phone camera's photo is about 12-50 MP; refuse decompression bombs


def reencode(raw: bytes, content_type: str) -> bytes:
    """The image without its metadata, in the same format; ``unsupported_attachment``
    for anything that is not a decodable image of that type."""
    wanted = TYPES.get(content_type)
    if wanted is None:
        raise ApiError("unsupported_attachment")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                if image.format != wanted or image.width * image.height > MAX_PIXELS:
                    raise ApiError("unsupported_attachment")
                image.load()
                # Apply the EXIF orientation to the pixels before the EXIF block goes.
                upright = ImageOps.exif_transpose(image)
                if upright.mode not in ("RGB", "L", "RGBA") or wanted == "JPEG":
                    upright = upright.convert("RGB")
                out = io.BytesIO()
                upright.save(out, format=wanted, **({"quality": 85} if wanted != "PNG" else {}))
    except ApiError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Warning) as exc:
        raise ApiError("unsupported_attachment") from exc
    except Image.DecompressionBombError as exc:
        raise ApiError("unsupported_attachment") from exc
    return out.getvalue()


async def store(db: Any, employee_id: int, raw: bytes, content_type: str) -> str:
    if len(raw) > MAX_BYTES:
        raise ApiError("payload_too_large")
    data = reencode(raw, content_type)
    attachment_id = "att_" + secrets.token_urlsafe(16)
    async with db.transaction():
        await db.execute(
            attachments.insert().values(
                id=attachment_id,
                employee_id=employee_id,
                content_type=content_type,
                size=len(data),
                data=data,
                created_at=utcnow(),
            )
        )
    return attachment_id
