"""Face pay's own area: descriptors of real photographs, the 1:N search, consent,
withdrawal, the year-end purge and the templates' encryption.

The photographs are two different people (``faces.photos``); every rescaled, mirrored
and gamma-changed copy of each must identify as that person and no one else, and a
photograph with no face is a clear 422 with nothing written.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from pydantic import ValidationError
from sqlalchemy import func, select, update

from faces.photos import PEOPLE, VARIANTS, coffee, descriptor, jpeg
from onecard.audit.models import AuditEvent
from onecard.core.config import Settings
from onecard.core.context import Context
from onecard.core.errors import FaceConsentRequired, Forbidden, NoFaceFound
from onecard.faces import gallery, queries, service
from onecard.faces.embedding import check_descriptor, describe
from onecard.faces.models import FaceConsent, FaceTemplate
from onecard.faces.queries import EnrolledFace
from onecard.faces.sealing import open_sealed, seal
from onecard.org.actors import Actor
from onecard.org.models import Person
from world import World, build_world

SYSTEM = Actor.system("test")
THRESHOLD, MARGIN = 0.6, 0.08
OWN_ONLY = gallery.Accepts(unit_id=1, serves_visitors=False, serves_guests=False)
EVERYONE = gallery.Accepts(unit_id=1, serves_visitors=True, serves_guests=True)


def two_people_gallery() -> gallery.Gallery:
    people = [
        EnrolledFace(101, 1, "staff", "13800001111", "S101", b""),
        EnrolledFace(102, 1, "staff", "13900002222", "S102", b""),
    ]
    m = np.array([descriptor("astronaut"), descriptor("grace")], dtype=np.float32)
    return gallery.build(1, (2, 2), people, m)


def find(
    g: gallery.Gallery,
    probe: Any,
    digits: int | None = None,
    accepts: gallery.Accepts = EVERYONE,
    digits_above: int = 10_000,
) -> Any:
    return gallery.identify(
        g,
        accepts,
        np.asarray(probe, np.float32),
        digits,
        threshold=THRESHOLD,
        margin=MARGIN,
        digits_above=digits_above,
    )


# --- the photographs ---------------------------------------------------------------------------
def test_the_two_photographs_are_two_people() -> None:
    a = np.asarray(descriptor("astronaut"))
    g = np.asarray(descriptor("grace"))
    assert a.shape == g.shape == (128,)
    assert float(np.linalg.norm(a - g)) > THRESHOLD


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("person", list(PEOPLE))
def test_a_changed_copy_identifies_as_the_same_person(person: str, variant: str) -> None:
    g = two_people_gallery()
    probe = descriptor(person, variant)
    found = find(g, probe)
    expected = 101 if person == "astronaut" else 102
    assert found == gallery.Match(expected, pytest.approx(found.distance)), (person, variant)
    assert found.distance < 0.45
    other = descriptor("grace" if person == "astronaut" else "astronaut")
    assert float(np.linalg.norm(np.asarray(probe) - np.asarray(other))) > THRESHOLD


def test_a_jpeg_gives_the_descriptor_of_its_pixels() -> None:
    from faces.photos import astronaut

    d = describe(jpeg(astronaut()))
    assert d.dtype == np.float32
    assert float(np.linalg.norm(d - np.asarray(descriptor("astronaut")))) < 0.1


@pytest.mark.parametrize(
    "picture",
    [
        jpeg(coffee()),
        jpeg(np.full((240, 320, 3), 128, dtype=np.uint8)),
        b"not a picture at all",
        b"",
    ],
    ids=["coffee", "plain grey", "text", "empty"],
)
def test_a_picture_without_a_face_is_no_face_found(picture: bytes) -> None:
    with pytest.raises(NoFaceFound) as info:
        describe(picture)
    assert info.value.code == "no_face"


def test_a_terminals_descriptor_is_checked() -> None:
    assert check_descriptor(descriptor("grace")).shape == (128,)
    for bad in ([0.1] * 127, [float("nan")] * 128, [1.5] + [0.0] * 127, [5.0] * 128):
        with pytest.raises(Exception, match="descriptor"):
            check_descriptor(bad)


# --- the search ----------------------------------------------------------------------------
def test_no_one_near_is_no_match() -> None:
    g = two_people_gallery()
    far = -np.asarray(descriptor("astronaut"))
    assert find(g, far) == gallery.NoMatch()


def test_a_canteen_that_does_not_accept_the_person_does_not_find_them() -> None:
    people = [
        EnrolledFace(101, 1, "staff", None, "S101", b""),
        EnrolledFace(102, 2, "staff", None, "S102", b""),  # another unit's staff
        EnrolledFace(103, 3, "guest", None, "G103", b""),
    ]
    m = np.array([descriptor("astronaut"), descriptor("grace"), descriptor("grace")], np.float32)
    g = gallery.build(1, (3, 3), people, m)
    probe = descriptor("grace", "mirrored")
    assert find(g, probe, accepts=OWN_ONLY) == gallery.NoMatch()
    only_visitors = gallery.Accepts(unit_id=1, serves_visitors=True, serves_guests=False)
    found = find(g, probe, accepts=only_visitors)
    assert isinstance(found, gallery.Match) and found.person_id == 102
    only_guests = gallery.Accepts(unit_id=1, serves_visitors=False, serves_guests=True)
    found = find(g, probe, accepts=only_guests)
    assert isinstance(found, gallery.Match) and found.person_id == 103


def test_a_thin_margin_asks_for_the_digits_and_the_digits_decide() -> None:
    """Two people with nearly the same face (twins, or a bad enrolment): the face alone
    does not decide; the last 4 digits of the phone or the staff number do."""
    a = np.asarray(descriptor("astronaut"), np.float32)
    twin = a + np.float32(0.01)
    people = [
        EnrolledFace(101, 1, "staff", "13800001111", "S101", b""),
        EnrolledFace(104, 1, "staff", "13700004444", "S0000777", b""),
        EnrolledFace(102, 1, "staff", "13900002222", "S102", b""),
    ]
    g = gallery.build(1, (3, 3), people, np.stack([a, twin, np.asarray(descriptor("grace"))]))
    probe = descriptor("astronaut", "mirrored")
    assert find(g, probe) == gallery.NeedDigits(2)
    assert find(g, probe, digits=1111) == gallery.Match(
        101, pytest.approx(find(g, probe, 1111).distance)
    )
    assert isinstance(find(g, probe, digits=4444), gallery.Match)
    assert find(g, probe, digits=777).person_id == 104  # staff number S0000777 → 0777
    assert find(g, probe, digits=9999) == gallery.NoMatch()
    # The other person, clear of the twins, is found by the face alone.
    assert isinstance(find(g, descriptor("grace", "half size")), gallery.Match)


def test_a_large_gallery_always_asks_for_the_digits() -> None:
    g = two_people_gallery()
    probe = descriptor("grace", "mirrored")
    assert find(g, probe, digits_above=1) == gallery.NeedDigits(2)  # two accepted
    found = find(g, probe, digits=2222, digits_above=1)
    assert isinstance(found, gallery.Match) and found.person_id == 102


def test_a_few_accepted_people_are_searched_alone_with_the_same_answers() -> None:
    """Among 400 other faces, a canteen of one unit (or the digits) gathers its few rows;
    the answers are the same as the whole matrix gives."""
    rng = np.random.default_rng(7)
    others = rng.normal(0, 0.9 / 16, (400, 128)).astype(np.float32)
    m = np.vstack([others, np.array([descriptor("astronaut"), descriptor("grace")], np.float32)])
    people = [
        EnrolledFace(1000 + i, 2 + i % 20, "staff", f"1390000{i:04d}", f"S{i}", b"")
        for i in range(400)
    ] + [
        EnrolledFace(101, 1, "staff", "13800001111", "S101", b""),
        EnrolledFace(102, 1, "staff", "13900002222", "S102", b""),
    ]
    g = gallery.build(1, (402, 402), people, m)
    probe = descriptor("grace", "mirrored")
    small = find(g, probe, accepts=OWN_ONLY)  # 2 of 402 rows
    whole = find(g, probe, accepts=EVERYONE)
    assert isinstance(small, gallery.Match) and small.person_id == 102
    assert whole == gallery.Match(102, pytest.approx(small.distance, abs=1e-4))
    assert find(g, probe, digits=2222, digits_above=1).person_id == 102
    assert find(g, descriptor("astronaut", "half size"), accepts=OWN_ONLY).person_id == 101


def test_the_matrix_is_contiguous_float32() -> None:
    g = two_people_gallery()
    assert g.matrix.dtype == np.float32 and g.matrix.flags["C_CONTIGUOUS"]
    assert g.matrix.shape == (2, 128)
    assert g.nbytes >= 2 * 128 * 4


# --- sealing -------------------------------------------------------------------------------
def test_a_template_is_encrypted_and_only_its_key_and_person_open_it() -> None:
    key, other_key = b"k" * 32, b"j" * 32
    d = np.asarray(descriptor("astronaut"), np.float32)
    sealed = seal(key, 7, d)
    assert d.tobytes() not in sealed
    assert len(sealed) == 12 + 128 * 4 + 16
    assert seal(key, 7, d) != sealed  # a fresh nonce every time
    assert np.array_equal(open_sealed(key, 7, sealed), d)
    with pytest.raises(InvalidTag):
        open_sealed(other_key, 7, sealed)
    with pytest.raises(InvalidTag):
        open_sealed(key, 8, sealed)  # moved to another person
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(InvalidTag):
        open_sealed(key, 7, tampered)


def test_production_refuses_to_start_without_a_face_key() -> None:
    with pytest.raises(ValidationError, match="ONECARD_FACE_KEY"):
        Settings(env="production", secret_key="x" * 32)
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(
            env="production", secret_key="x" * 32, face_key=base64.b64encode(b"short").decode()
        )
    key = base64.b64encode(bytes(range(32))).decode()
    assert Settings(
        env="production", secret_key="x" * 32, face_key=key, partner_key=key
    ).face_key_bytes == bytes(range(32))
    # Outside production, a key derived from the secret key.
    assert len(Settings(env="test", secret_key="t").face_key_bytes) == 32


# --- enrolment, consent, withdrawal, the year end ----------------------------------------------
@pytest.fixture
def w(ctx: Context) -> World:
    return build_world(ctx)


def counts(ctx: Context) -> tuple[int, int, int]:
    with ctx.db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(FaceTemplate)).scalar_one(),
            conn.execute(select(func.count()).select_from(FaceConsent)).scalar_one(),
            conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one(),
        )


def actor_of(ctx: Context, w: World, key: str) -> Actor:
    with ctx.db.read() as conn:
        return Actor.load(conn, w.people[key], f"S{key}", w.units[key[0].upper()])


def test_enrolment_needs_consent_and_a_face_and_writes_nothing_otherwise(
    ctx: Context, w: World
) -> None:
    me = actor_of(ctx, w, "a1")
    before = counts(ctx)
    with pytest.raises(NoFaceFound):
        service.enrol(ctx, me, w.people["a1"], image=jpeg(coffee()), consent=True)
    with pytest.raises(FaceConsentRequired):
        service.enrol(ctx, me, w.people["a1"], descriptor=list(descriptor("astronaut")))
    with pytest.raises(Forbidden):  # another diner
        service.enrol(
            ctx,
            actor_of(ctx, w, "b1"),
            w.people["a1"],
            descriptor=list(descriptor("grace")),
            consent=True,
        )
    assert counts(ctx) == before
    done = service.enrol(
        ctx, me, w.people["a1"], descriptor=list(descriptor("astronaut")), consent=True
    )
    assert done.consent_recorded
    st = queries.face_status(ctx, w.people["a1"])
    assert st.enrolled and st.consent_via == "self"
    # The consent and the enrolment are audited, without any face data.
    with ctx.db.read() as conn:
        actions = list(
            conn.execute(
                select(AuditEvent.action, AuditEvent.kind, AuditEvent.after).where(
                    AuditEvent.person_id == w.people["a1"]
                )
            )
        )
    assert [(a, k) for a, k, _ in actions] == [("face_consent", "face"), ("face_enrol", "face")]
    assert all("0." not in str(after) for _, _, after in actions)


def test_withdrawal_deletes_the_template_at_once(ctx: Context, w: World) -> None:
    me = actor_of(ctx, w, "a1")
    service.enrol(ctx, me, w.people["a1"], descriptor=list(descriptor("astronaut")), consent=True)
    g = gallery.gallery_for(ctx, w.region)
    assert g.size == 1
    assert service.withdraw(ctx, me, w.people["a1"]) is True
    with ctx.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0
        ended = conn.execute(select(FaceConsent.ended_why, FaceConsent.ended_at)).one()
    assert ended.ended_why == "withdrawn" and ended.ended_at is not None
    assert gallery.gallery_for(ctx, w.region).size == 0  # the cache was dropped
    assert service.withdraw(ctx, me, w.people["a1"]) is False
    # Enrolling again needs a new consent.
    with pytest.raises(FaceConsentRequired):
        service.enrol(ctx, me, w.people["a1"], descriptor=list(descriptor("astronaut")))


def test_a_unit_admin_enrols_with_the_signed_consent_and_templates_are_sealed(
    ctx: Context, w: World
) -> None:
    service.enrol(ctx, SYSTEM, w.people["b1"], descriptor=list(descriptor("grace")), consent=True)
    with ctx.db.read() as conn:
        sealed = conn.execute(select(FaceTemplate.sealed)).scalar_one()
        via = conn.execute(select(FaceConsent.given_via)).scalar_one()
    raw = np.asarray(descriptor("grace"), np.float32).tobytes()
    assert via == "admin"
    assert raw not in bytes(sealed)
    assert np.allclose(
        open_sealed(ctx.settings.face_key_bytes, w.people["b1"], bytes(sealed)),
        np.asarray(descriptor("grace"), np.float32),
    )
    with pytest.raises(InvalidTag):
        open_sealed(b"\0" * 32, w.people["b1"], bytes(sealed))


def test_the_year_end_deletes_the_faces_of_people_who_left(ctx: Context, w: World) -> None:
    from onecard.funding.year_end import clear_year

    for key, person in (("a1", "astronaut"), ("b1", "grace")):
        service.enrol(ctx, SYSTEM, w.people[key], descriptor=list(descriptor(person)), consent=True)
    with ctx.db.begin() as conn:
        conn.execute(update(Person).where(Person.id == w.people["b1"]).values(status="left"))
    clear_year(ctx, SYSTEM, 2026, override_calendar="测试：年末删除离职人员人脸")
    with ctx.db.read() as conn:
        left = conn.execute(select(FaceTemplate.person_id)).scalars().all()
        why = dict(conn.execute(select(FaceConsent.person_id, FaceConsent.ended_why)).all())
    assert left == [w.people["a1"]]
    assert why == {w.people["a1"]: None, w.people["b1"]: "left"}


def test_a_countys_year_end_leaves_the_citys_leavers_to_the_city(ctx: Context, w: World) -> None:
    """A fund region's year end deletes the faces of its own leavers only: the city's
    leaver keeps hers until the city's year end."""
    from onecard.funding import regions
    from onecard.funding.year_end import clear_year
    from onecard.org import builders as b

    for key, person in (("a1", "astronaut"), ("b1", "grace")):
        service.enrol(ctx, SYSTEM, w.people[key], descriptor=list(descriptor(person)), consent=True)
    with ctx.db.begin() as conn:
        county = b.create_region(conn, "431021", "桂阳县", "county", w.region)
        conn.execute(update(Person).where(Person.id == w.people["a1"]).values(region_id=county))
        conn.execute(update(Person).values(status="left"))
    regions.set_own_fund(ctx, SYSTEM, "431021")
    why = "测试：年末删除离职人员人脸"
    clear_year(ctx, SYSTEM, 2026, override_calendar=why, region="431021")
    with ctx.db.read() as conn:
        kept = conn.execute(select(FaceTemplate.person_id)).scalars().all()
    assert kept == [w.people["b1"]]
    clear_year(ctx, SYSTEM, 2026, override_calendar=why)
    with ctx.db.read() as conn:
        assert conn.execute(select(FaceTemplate.person_id)).scalars().all() == []
