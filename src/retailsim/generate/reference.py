"""Reference data and vectorised pools for the simulator.

This module gives the simulator everything it needs to make realistic-looking people, places and brands
without calling Faker once per row:

* :func:`load_cities` and :func:`load_taxonomy` read the package data in ``retailsim/generate/data``.
* :func:`name_pools` reads Faker's locale provider *data* (class attributes such as
  ``first_names_female``) once per locale and turns it into small numpy pools with probabilities.
* :func:`sample_people`, :func:`make_emails`, :func:`make_phones`, :func:`make_street_addresses` and
  :func:`make_brands` draw from those pools with a :class:`numpy.random.Generator`, working on whole
  arrays. The only Python loops run over a handful of patterns or over the small pools. Names are
  drawn with alias tables; strings are mapped to codes with :func:`pandas.factorize` and assembled with
  Arrow compute kernels, then handed back as numpy arrays.

Nothing is read at import time; every loader is cached with :func:`functools.lru_cache`. The arrays held
by cached objects are read-only, so that a caller cannot change them for everybody else.

All string outputs are numpy ``object`` arrays of :class:`str`. Results depend only on the generator's
state and the arguments, so the same seed gives the same data.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import import_module, resources
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retailsim.errors import ConfigError

__all__ = [
    "SUPPORTED_LOCALES",
    "Cities",
    "NamePools",
    "Taxonomy",
    "load_cities",
    "load_taxonomy",
    "make_brands",
    "make_emails",
    "make_phones",
    "make_street_addresses",
    "name_pools",
    "sample_people",
]

SUPPORTED_LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR")
"""Locales with both city data and Faker name data."""

_DATA_PACKAGE = "retailsim.generate"
_PHONE_ALLOWED = frozenset("0123456789#%$ +-().")
_PHONE_MIN_LEN, _PHONE_MAX_LEN = 7, 20


# --------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------


def _check_locale(locale: str) -> str:
    """Return ``locale`` if supported, else raise :class:`ConfigError` naming the allowed locales."""
    if locale not in SUPPORTED_LOCALES:
        raise ConfigError(f"unknown locale {locale!r}; allowed locales are: {', '.join(SUPPORTED_LOCALES)}")
    return locale


def _frozen(values: Iterable[Any] | np.ndarray, dtype: Any = object) -> np.ndarray:
    """Return a read-only 1-d array of ``values``."""
    items = list(values)
    if dtype is object:
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
    else:
        arr = np.array(items, dtype=dtype)
    arr.flags.writeable = False
    return arr


def _read_rows(name: str) -> list[dict[str, str]]:
    """Read one CSV file of the package data as a list of dicts."""
    text = resources.files(_DATA_PACKAGE).joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _cumulative(p: np.ndarray) -> np.ndarray:
    """Cumulative distribution of ``p`` normalised to end exactly at 1."""
    cum = np.cumsum(p, dtype=np.float64)
    cum /= cum[-1]
    return cum


def _draw(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    """Draw ``n`` indices from the discrete distribution ``p`` (inverse-CDF, vectorised)."""
    cum = _cumulative(p)
    idx = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(idx, len(cum) - 1)


def _concat(*parts: np.ndarray | str) -> np.ndarray:
    """Element-wise concatenation of object arrays and plain strings (all arrays the same length)."""
    kept = [part for part in parts if not (isinstance(part, str) and not part)]
    out: Any = kept[0]
    for part in kept[1:]:
        out = out + part  # str + object array and object + object are element-wise in numpy
    return np.asarray(out, dtype=object)


# --------------------------------------------------------------------------------------------------------
# cities
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cities:
    """Real cities of one locale, one entry per city.

    Attributes
    ----------
    city : numpy.ndarray
        City names (object array of ``str``).
    region : numpy.ndarray
        First-level region of each city: US state, UK region or nation, German Bundesland, French région.
    population : numpy.ndarray
        Approximate city-proper population (``int64``, positive).
    latitude, longitude : numpy.ndarray
        City-centre coordinates in decimal degrees (``float64``).
    country : str
        Country name in English, e.g. ``"Germany"``.
    """

    city: np.ndarray
    region: np.ndarray
    population: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    country: str

    @property
    def weights(self) -> np.ndarray:
        """Population shares (``float64``, sums to 1), for weighting customers and stores by city."""
        pop = self.population.astype(np.float64)
        return pop / pop.sum()

    def __len__(self) -> int:
        return len(self.city)


@lru_cache(maxsize=16)
def load_cities(locale: str) -> Cities:
    """Load the real cities of ``locale`` from the package data.

    Parameters
    ----------
    locale : str
        One of :data:`SUPPORTED_LOCALES`.

    Returns
    -------
    Cities
        Cached, read-only arrays; do not modify them.

    Raises
    ------
    ConfigError
        If ``locale`` is not supported; the message lists the allowed locales.
    """
    _check_locale(locale)
    rows = [row for row in _read_rows("cities.csv") if row["locale"] == locale]
    if not rows:  # pragma: no cover - guarded by the data tests
        raise ConfigError(f"no cities for locale {locale!r} in the package data")
    countries = {row["country"] for row in rows}
    if len(countries) != 1:  # pragma: no cover - guarded by the data tests
        raise ConfigError(f"cities for locale {locale!r} name several countries: {sorted(countries)}")
    return Cities(
        city=_frozen(row["city"] for row in rows),
        region=_frozen(row["region"] for row in rows),
        population=_frozen((int(row["population"]) for row in rows), np.int64),
        latitude=_frozen((float(row["latitude"]) for row in rows), np.float64),
        longitude=_frozen((float(row["longitude"]) for row in rows), np.float64),
        country=countries.pop(),
    )


# --------------------------------------------------------------------------------------------------------
# taxonomy
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Taxonomy:
    """Product hierarchy, one entry per subcategory.

    Attributes
    ----------
    department, category, subcategory : numpy.ndarray
        Names of the three levels (object arrays of ``str``); ``subcategory`` is unique.
    price_median : numpy.ndarray
        Typical item price in currency units (``float64``).
    price_sigma : numpy.ndarray
        Lognormal sigma of item prices around the median (``float64``).
    private_label_share : numpy.ndarray
        Share of items sold under the retailer's own label (``float64``).
    nouns : tuple of tuple of str
        Product nouns of each subcategory, used to build product names.
    """

    department: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    price_median: np.ndarray
    price_sigma: np.ndarray
    private_label_share: np.ndarray
    nouns: tuple[tuple[str, ...], ...]

    def __len__(self) -> int:
        return len(self.subcategory)


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """Load the product hierarchy from the package data.

    Returns
    -------
    Taxonomy
        Cached, read-only arrays; do not modify them.
    """
    rows = _read_rows("taxonomy.csv")
    return Taxonomy(
        department=_frozen(row["department"] for row in rows),
        category=_frozen(row["category"] for row in rows),
        subcategory=_frozen(row["subcategory"] for row in rows),
        price_median=_frozen((float(row["price_median"]) for row in rows), np.float64),
        price_sigma=_frozen((float(row["price_sigma"]) for row in rows), np.float64),
        private_label_share=_frozen((float(row["private_label_share"]) for row in rows), np.float64),
        nouns=tuple(tuple(noun.strip() for noun in row["nouns"].split("|") if noun.strip()) for row in rows),
    )


# --------------------------------------------------------------------------------------------------------
# name pools (from Faker's provider data, read once per locale)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamePools:
    """Small per-locale pools that the vectorised samplers draw from.

    Attributes
    ----------
    first_female, first_male, last : numpy.ndarray
        Unique names (object arrays of ``str``).
    first_female_p, first_male_p, last_p : numpy.ndarray
        Their probabilities (``float64``, each sums to 1). Faker's weights where it has them, else uniform.
    email_domains : numpy.ndarray
        Free e-mail domains of the locale.
    email_domains_p : numpy.ndarray
        Their probabilities (sums to 1); large providers get more weight.
    street_names : numpy.ndarray
        Unique street names in the locale's style, e.g. ``"Oak Street"``, ``"Lindenweg"``,
        ``"rue Victor Hugo"``.
    phone_formats : tuple of str
        Phone masks of the locale; every ``'#'`` stands for one digit, e.g. ``"+1-###-###-####"``.
    brand_words : numpy.ndarray
        Single words (surnames) used to build consumer brand names.
    """

    first_female: np.ndarray
    first_female_p: np.ndarray
    first_male: np.ndarray
    first_male_p: np.ndarray
    last: np.ndarray
    last_p: np.ndarray
    email_domains: np.ndarray
    email_domains_p: np.ndarray
    street_names: np.ndarray
    phone_formats: tuple[str, ...]
    brand_words: np.ndarray


def _faker_provider(kind: str, locale: str) -> type:
    """Faker's ``Provider`` class of ``faker.providers.<kind>.<locale>``.

    Falls back to the main locale of the same language (``en_GB`` -> ``en_US``), then to the generic
    provider of ``kind``.
    """
    fallback = {"en": "en_US", "de": "de_DE", "fr": "fr_FR"}.get(locale.split("_")[0], "en_US")
    for name in (f"faker.providers.{kind}.{locale}", f"faker.providers.{kind}.{fallback}"):
        try:
            module: ModuleType = import_module(name)
        except ModuleNotFoundError:
            continue
        return module.Provider  # type: ignore[no-any-return]
    return import_module(f"faker.providers.{kind}").Provider  # type: ignore[no-any-return]


def _weighted(data: Mapping[str, float] | Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Unique names and probabilities from Faker data.

    ``data`` is either a mapping name -> weight (Faker's ``OrderedDict`` style) or a sequence of names,
    where a name listed several times gets proportionally more weight. Order of first appearance is kept.
    """
    weights: dict[str, float] = {}
    items = data.items() if isinstance(data, Mapping) else ((name, 1.0) for name in data)
    for name, weight in items:
        clean = str(name).strip()
        if clean and float(weight) > 0:
            weights[clean] = weights.get(clean, 0.0) + float(weight)
    if not weights:  # pragma: no cover - Faker always ships names for the supported locales
        raise ConfigError("Faker provider data is empty")
    p = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    return _frozen(weights), _frozen(p / p.sum(), np.float64)


# Relative popularity of well-known free mail providers; other (often defunct) domains weigh 0.5.
_DOMAIN_WEIGHT = {
    "gmail.com": 8.0,
    "yahoo.com": 3.0,
    "hotmail.com": 3.0,
    "outlook.com": 2.5,
    "yahoo.co.uk": 1.5,
    "hotmail.co.uk": 2.0,
    "gmx.de": 5.0,
    "web.de": 5.0,
    "googlemail.com": 1.5,
    "orange.fr": 4.0,
    "free.fr": 3.0,
    "sfr.fr": 2.0,
    "laposte.net": 2.0,
    "hotmail.fr": 2.0,
    "yahoo.fr": 1.5,
    "wanadoo.fr": 1.5,
}
_DOMAIN_RE = re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}$")

# Street-name stems ("|"-separated) and suffixes with weights ("name:weight", "|"-separated). Faker has no
# stems of this kind; the surnames added to the pools come from Faker.
_STREET_STEMS: dict[str, str] = {
    "en_US": "Main|Oak|Maple|Pine|Cedar|Elm|Washington|Lincoln|Park|Lake|Hill|Sunset|Jefferson|Madison|"
    "Franklin|Jackson|Highland|Walnut|Cherry|Spruce|Chestnut|Ridge|Church|Center|Mill|River|Spring|Meadow|"
    "Forest|Willow|First|Second|Third|Fourth|Fifth|Market|Broad|Union|Railroad|Valley",
    "en_GB": "High|Station|Church|Park|Victoria|Green|Manor|Kings|Queens|Mill|School|Chapel|Springfield|"
    "London|North|South|New|Albert|York|Windsor|Grange|Orchard|Meadow|Willow|Oak|Beech|Elm|Cedar|"
    "Highfield|Mount|Alexandra|Richmond|Stanley|Westfield|Princes|George|Castle|Market|Bridge",
    "de_DE": "Haupt|Bahnhof|Schul|Garten|Dorf|Berg|Kirch|Linden|Birken|Wald|Wiesen|Mühlen|Feld|Sonnen|"
    "Rosen|Eichen|Buchen|Ahorn|Tannen|Post|Markt|Goethe|Schiller|Mozart|Beethoven|Bismarck|Lessing|"
    "Uhland|Industrie|Jahn|Blumen|Burg|Brunnen|Amsel|Finken|Friedhof|Hirten|Kasernen|Park",
    "fr_FR": "de la Paix|de la République|Victor Hugo|Jean Jaurès|Pasteur|du Général de Gaulle|de la Gare|"
    "de l'Église|des Écoles|du Moulin|Nationale|de la Liberté|Gambetta|Voltaire|Jean Moulin|des Lilas|"
    "du Stade|de Verdun|Carnot|Émile Zola|des Tilleuls|du Château|de la Mairie|du Marché|Foch|"
    "Clemenceau|Jules Ferry|de Paris|Saint-Michel|des Fleurs|du Port|des Acacias|de la Fontaine|"
    "Aristide Briand",
}
_STREET_SUFFIXES: dict[str, str] = {
    "en_US": "Street:8|Avenue:5|Road:4|Drive:4|Lane:3|Court:2|Boulevard:1|Way:2|Place:1.5|Circle:1|"
    "Parkway:0.5|Terrace:0.5|Trail:0.5",
    "en_GB": "Road:8|Street:6|Lane:4|Close:3|Avenue:3|Drive:2|Way:2|Gardens:1.5|Crescent:1.5|Grove:1|"
    "Place:1|Court:1|Terrace:1|Hill:0.5|Mews:0.5|Row:0.5|Walk:0.5|Square:0.5",
    # German compounds: stem + lowercase suffix ("Lindenweg"), as Faker's ``street_suffixes_short``
    "de_DE": "straße:10|weg:5|platz:1|ring:1|allee:1|gasse:1",
    # French: prefix + name ("rue Victor Hugo"), as Faker's ``street_prefixes``
    "fr_FR": "rue:10|avenue:3|boulevard:1.5|chemin:1.5|place:1|impasse:1|allée:1",
}


def _parse_weighted(spec: str) -> tuple[list[str], np.ndarray]:
    """Parse ``"name:weight|name:weight"`` into names and probabilities."""
    pairs = [item.rsplit(":", 1) for item in spec.split("|")]
    p = np.asarray([float(w) for _, w in pairs], dtype=np.float64)
    return [name for name, _ in pairs], p / p.sum()


def _street_pool(locale: str, last: np.ndarray, last_p: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Unique street names in the style of ``locale``; deterministic (fixed seed, not the caller's rng)."""
    rng = np.random.default_rng(20_240_601)
    stems = _STREET_STEMS[locale].split("|")
    suffixes, suffix_p = _parse_weighted(_STREET_SUFFIXES[locale])
    # the most frequent surnames make realistic street names ("Smith Road", "Müllerstraße")
    top_last = [str(x) for x in last[np.argsort(-last_p, kind="stable")[:300]] if str(x).isalpha()]
    names: list[str] = []
    if locale in ("en_US", "en_GB"):
        names += [f"{stem} {suffix}" for stem in stems for suffix in suffixes]
        picks = rng.choice(len(suffixes), size=len(top_last), p=suffix_p)
        names += [f"{surname} {suffixes[k]}" for surname, k in zip(top_last, picks, strict=True)]
    elif locale == "de_DE":
        names += [f"{stem}{suffix}" for stem in stems for suffix in suffixes]
        picks = rng.choice(len(suffixes), size=len(top_last), p=suffix_p)
        names += [f"{surname}{suffixes[k]}" for surname, k in zip(top_last, picks, strict=True)]
        # Faker's '{{first_name}}-{{last_name}}-Straße' style, a few of them
        firsts = rng.choice(first, size=40)
        lasts = rng.choice(np.asarray(top_last, dtype=object), size=40)
        names += [f"{f}-{s}-Straße" for f, s in zip(firsts, lasts, strict=True)]
    else:  # fr_FR
        names += [f"{prefix} {stem}" for stem in stems for prefix in suffixes]
        picks = rng.choice(len(suffixes), size=len(top_last), p=suffix_p)
        firsts = rng.choice(first, size=len(top_last))
        names += [
            f"{suffixes[k]} {f} {surname}" if i % 2 else f"{suffixes[k]} {surname}"
            for i, (surname, k, f) in enumerate(zip(top_last, picks, firsts, strict=True))
        ]
    return _frozen(dict.fromkeys(names))


_TRUNK_PREFIX = re.compile(r"^(\+\d{1,3})? ?\(?0\)? ?\(?$")


def _nonzero_after_trunk(mask: str) -> str:
    """Make the digit after a national trunk ``0`` non-zero (``"0##########"`` -> ``"0%#########"``).

    Area codes never start with 0, so ``"+49(0)0758..."`` would not look like a real number.
    """
    first = min((mask.index(c) for c in "#%$" if c in mask), default=-1)
    if first > 0 and mask[first] == "#" and _TRUNK_PREFIX.match(mask[:first]):
        return f"{mask[:first]}%{mask[first + 1 :]}"
    return mask


def _phone_templates(locale: str) -> tuple[list[str], np.ndarray]:
    """Faker phone formats of ``locale`` as digit masks with their weights.

    Faker's own placeholders are kept: ``#`` any digit, ``%`` 1-9, ``$`` 2-9. ``{{area_code...}}``
    templates are expanded with the provider's ``area_codes``; extension formats (``x###``) and any other
    template are dropped.
    """
    provider = _faker_provider("phone_number", locale)
    area_codes: tuple[str, ...] = tuple(getattr(provider, "area_codes", ()))
    weights: dict[str, float] = {}
    for fmt in provider.formats:
        expanded: list[str] = [fmt]
        if "{{area_code" in fmt and area_codes:
            expanded = [
                fmt.replace("{{area_code_with_separator}}", f"{code[0]} {code[1:]}").replace(
                    "{{area_code_without_separator}}", code
                )
                for code in area_codes
            ]
        for mask in expanded:
            if (
                set(mask) <= _PHONE_ALLOWED
                and _PHONE_MIN_LEN <= len(mask) <= _PHONE_MAX_LEN
                and any(c in "#%$" for c in mask)
            ):
                mask = _nonzero_after_trunk(mask)
                weights[mask] = weights.get(mask, 0.0) + 1.0 / len(expanded)
    if not weights:  # pragma: no cover - every supported locale has usable formats
        raise ConfigError(f"Faker has no usable phone formats for locale {locale!r}")
    p = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    return list(weights), p / p.sum()


# applied after lower-casing
_GERMAN_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
_SPECIAL_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}
)
_NON_SLUG = re.compile(r"[^a-z-]+")


def _ascii_slug(name: str, locale: str) -> str:
    """Lowercase ASCII form of a name for e-mail addresses ("Müller" -> "mueller", "Adélaïde" -> "adelaide").

    Called once per unique name (see :func:`_slug`), never per row.
    """
    text = name.lower()
    if locale.startswith("de"):
        text = text.translate(_GERMAN_UMLAUTS)
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _NON_SLUG.sub("", text).strip("-")
    text = re.sub("-{2,}", "-", text)
    return text or "x"


@lru_cache(maxsize=16)
def name_pools(locale: str) -> NamePools:
    """Build the name, street, phone, e-mail and brand pools of ``locale`` once, from Faker's provider data.

    Only Faker's class attributes are read (e.g. ``faker.providers.person.en_US.Provider.last_names``);
    no Faker instance is created and nothing is generated per row.

    Parameters
    ----------
    locale : str
        One of :data:`SUPPORTED_LOCALES`.

    Returns
    -------
    NamePools
        Cached, read-only pools.

    Raises
    ------
    ConfigError
        If ``locale`` is not supported.
    """
    _check_locale(locale)
    person = _faker_provider("person", locale)
    first_female, first_female_p = _weighted(person.first_names_female)
    first_male, first_male_p = _weighted(person.first_names_male)
    last, last_p = _weighted(person.last_names)

    internet = _faker_provider("internet", locale)
    domains = [d.lower() for d in dict.fromkeys(internet.free_email_domains) if _DOMAIN_RE.match(d.lower())]
    domain_w = np.array([_DOMAIN_WEIGHT.get(d, 0.5) for d in domains], dtype=np.float64)

    masks, _ = _phone_templates(locale)
    phone_formats = tuple(dict.fromkeys(re.sub("[%$]", "#", mask) for mask in masks))

    # brand words: the surnames Faker's company formats use ('{{last_name}} {{company_suffix}}'),
    # single alphabetic words only, most frequent first
    order = np.argsort(-last_p, kind="stable")
    brand_words = [str(w) for w in last[order] if str(w).isalpha() and len(str(w)) >= 3]

    return NamePools(
        first_female=first_female,
        first_female_p=first_female_p,
        first_male=first_male,
        first_male_p=first_male_p,
        last=last,
        last_p=last_p,
        email_domains=_frozen(domains),
        email_domains_p=_frozen(domain_w / domain_w.sum(), np.float64),
        street_names=_street_pool(locale, last, last_p, np.concatenate([first_female, first_male])),
        phone_formats=phone_formats,
        brand_words=_frozen(brand_words),
    )


@lru_cache(maxsize=65_536)
def _slug(name: str, locale: str) -> str:
    """Cached :func:`_ascii_slug` (called once per unique name)."""
    return _ascii_slug(name, locale)


def _factorize(values: np.ndarray | Iterable[str], what: str) -> tuple[np.ndarray, list[str]]:
    """Codes and unique values of a 1-d array of strings (hash-based, in C).

    Missing values (``None``) get the code ``len(uniques)``, one past the last unique.
    """
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-d array, got shape {arr.shape}")
    # Arrow's hash encoding numbers values in order of first occurrence (like pandas.factorize, which would
    # cost the generator a pandas import per worker); nulls stay null in the indices
    encoded = pc.dictionary_encode(pa.array(arr, pa.string()))
    uniques = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(len(uniques)).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, uniques


def _pa_strings(values: Iterable[str]) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of Arrow string arrays and scalars (in C)."""
    return pc.binary_join_element_wise(*parts, "")


def _to_numpy(arr: pa.Array) -> np.ndarray:
    """Arrow string array -> numpy object array of ``str``."""
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


@lru_cache(maxsize=64)
def _arrow_pool(locale: str, which: str) -> pa.Array:
    """A pool of :func:`name_pools` (or the building numbers) as an Arrow string array."""
    if which == "numbers":
        return _pa_strings(str(i) for i in range(10_000))
    return _pa_strings(getattr(name_pools(locale), which))


@lru_cache(maxsize=16)
def _phone_matrix(locale: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Phone masks as a NUL-padded ``uint8`` character matrix, the low digit of each placeholder,
    the mask lengths and the mask weights.

    ``low`` is 0 for ``#``, 1 for ``%``, 2 for ``$`` and 255 where the character is kept as is.
    """
    masks, p = _phone_templates(locale)
    width = max(len(m) for m in masks)
    chars = np.zeros((len(masks), width), dtype=np.uint8)
    low = np.full((len(masks), width), 255, dtype=np.uint8)
    lows = {"#": 0, "%": 1, "$": 2}
    for i, mask in enumerate(masks):
        chars[i, : len(mask)] = np.frombuffer(mask.encode("ascii"), dtype=np.uint8)
        for j, c in enumerate(mask):
            if c in lows:
                low[i, j] = lows[c]
    lengths = np.array([len(m) for m in masks], dtype=np.int32)
    for arr in (chars, low, lengths, p):
        arr.flags.writeable = False
    return chars, low, lengths, p


# --------------------------------------------------------------------------------------------------------
# vectorised samplers
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Alias:
    """Walker/Vose alias table: exact O(1) draws from a fixed discrete distribution."""

    prob: np.ndarray
    alias: np.ndarray

    @classmethod
    def build(cls, p: np.ndarray) -> _Alias:
        m = len(p)
        scaled = np.asarray(p, dtype=np.float64) * (m / np.sum(p))
        prob = np.ones(m, dtype=np.float64)
        alias = np.arange(m, dtype=np.int64)
        small = [i for i in range(m) if scaled[i] < 1.0]
        large = [i for i in range(m) if scaled[i] >= 1.0]
        while small and large:  # loop over the (small) pool, once per pool
            s, g = small.pop(), large.pop()
            prob[s], alias[s] = scaled[s], g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        for arr in (prob, alias):
            arr.flags.writeable = False
        return cls(prob, alias)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` indices into the pool."""
        i = rng.integers(0, len(self.prob), size=n)
        return np.where(rng.random(n) < self.prob[i], i, self.alias[i])


@lru_cache(maxsize=64)
def _alias(locale: str, which: str) -> _Alias:
    """Alias table of the probabilities ``<which>_p`` of :func:`name_pools`."""
    return _Alias.build(getattr(name_pools(locale), f"{which}_p"))


def sample_people(
    rng: np.random.Generator, n: int, locale: str, female: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw first and last names for ``n`` people.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of people.
    locale : str
        One of :data:`SUPPORTED_LOCALES`.
    female : numpy.ndarray
        Boolean array of length ``n``; ``True`` draws a female first name, ``False`` a male one.

    Returns
    -------
    first, last : numpy.ndarray
        Object arrays of ``str``, length ``n``, drawn with the pools' frequency weights.
    """
    pools = name_pools(locale)
    female = np.asarray(female, dtype=bool)
    if female.shape != (n,):
        raise ValueError(f"female must have shape ({n},), got {female.shape}")
    first_idx = np.empty(n, dtype=np.int64)
    fem, mal = np.flatnonzero(female), np.flatnonzero(~female)
    first_idx[fem] = _alias(locale, "first_female").draw(rng, fem.size)
    first_idx[mal] = len(pools.first_female) + _alias(locale, "first_male").draw(rng, mal.size)
    first = _first_names(locale)[first_idx]
    last = pools.last[_alias(locale, "last").draw(rng, n)]
    return first, last


@lru_cache(maxsize=16)
def _first_names(locale: str) -> np.ndarray:
    """Female then male first names of ``locale`` in one array."""
    pools = name_pools(locale)
    return _frozen(np.concatenate([pools.first_female, pools.first_male]))


# e-mail local-part patterns and their weights; every address ends with the id digits
_EMAIL_PATTERNS = "first.last:34|firstlast:14|f.last:10|flast:10|first_last:8|last.first:8|first:10|last:6"


def _email_local(pattern: str, first: pa.Array, initial: pa.Array, last: pa.Array) -> pa.Array:
    """Local part (without the id digits) of one e-mail pattern, from first and last name slugs."""
    if pattern == "first.last":
        return _join(first, ".", last)
    if pattern == "firstlast":
        return _join(first, last)
    if pattern == "f.last":
        return _join(initial, ".", last)
    if pattern == "flast":
        return _join(initial, last)
    if pattern == "first_last":
        return _join(first, "_", last)
    if pattern == "last.first":
        return _join(last, ".", first)
    if pattern == "first":
        return first
    return last


def make_emails(
    rng: np.random.Generator, first: np.ndarray, last: np.ndarray, locale: str, ids: np.ndarray
) -> np.ndarray:
    """Build lowercase ASCII e-mail addresses such as ``"anna.schmidt42@gmx.de"``.

    Names are transliterated to ASCII ("Müller" -> "mueller", "Hélène" -> "helene") once per unique
    name; the local part follows one of a few common patterns (``first.last``, ``flast``, ...) and always
    ends with the decimal id, so distinct ids give distinct addresses.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (pattern and domain choice).
    first, last : numpy.ndarray
        First and last names, same length.
    locale : str
        One of :data:`SUPPORTED_LOCALES`; picks the free-mail domains and the transliteration.
    ids : numpy.ndarray
        Non-negative integer ids, same length as the names.

    Returns
    -------
    numpy.ndarray
        Object array of ``str``, each matching ``^[a-z0-9._%+-]+@[a-z0-9.-]+\\.[a-z]{2,}$``.
    """
    pools = name_pools(locale)
    first_codes, first_uniques = _factorize(first, "first")
    last_codes, last_uniques = _factorize(last, "last")
    id_arr = np.asarray(ids)
    n = first_codes.shape[0]
    if last_codes.shape[0] != n or id_arr.shape != (n,):
        raise ValueError("first, last and ids must have the same length")
    if n == 0:
        return np.empty(0, dtype=object)
    if not np.issubdtype(id_arr.dtype, np.integer):
        raise ValueError(f"ids must be integers, got dtype {id_arr.dtype}")
    if id_arr.min() < 0:
        raise ValueError("ids must be non-negative")
    first_slugs = [_slug(name, locale) for name in first_uniques] + ["x"]
    last_slugs = [_slug(name, locale) for name in last_uniques] + ["x"]
    first_pool, last_pool = _pa_strings(first_slugs), _pa_strings(last_slugs)
    initial_pool = _pa_strings(slug[0] for slug in first_slugs)
    domain_pool = _arrow_pool(locale, "email_domains")

    names, p = _parse_weighted(_EMAIL_PATTERNS)
    pattern = _draw(rng, p, n)
    domain = _draw(rng, pools.email_domains_p, n)
    digits = pc.cast(pa.array(id_arr.astype(np.int64)), pa.string())
    # build each pattern's rows together, then put the rows back in their original order
    order = np.argsort(pattern, kind="stable")
    bounds = np.searchsorted(pattern[order], np.arange(len(names) + 1))
    pieces = []
    for k, name in enumerate(names):
        rows = order[bounds[k] : bounds[k + 1]]
        if rows.size == 0:
            continue
        f_code = pa.array(first_codes[rows])
        local = _email_local(
            name,
            first_pool.take(f_code),
            initial_pool.take(f_code),
            last_pool.take(pa.array(last_codes[rows])),
        )
        pieces.append(
            _join(local, digits.take(pa.array(rows)), "@", domain_pool.take(pa.array(domain[rows])))
        )
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return _to_numpy(pa.concat_arrays(pieces).take(pa.array(inverse)))


def make_phones(rng: np.random.Generator, n: int, locale: str) -> np.ndarray:
    """Draw ``n`` phone numbers from the locale's Faker formats.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of phone numbers.
    locale : str
        One of :data:`SUPPORTED_LOCALES`.

    Returns
    -------
    numpy.ndarray
        Object array of ``str``, each matching ``^[0-9+()\\-. ]{7,20}$``.
    """
    _check_locale(locale)
    chars, low, lengths, p = _phone_matrix(locale)
    if n == 0:
        return np.empty(0, dtype=object)
    fmt = _draw(rng, p, n)
    row_low = low[fmt]
    placeholder = row_low != 255
    # 2520 is a multiple of 10, 9 and 8, so the modulo is unbiased for each placeholder kind
    raw = rng.integers(0, 2520, size=row_low.shape, dtype=np.uint16)
    span = np.where(placeholder, 10 - row_low.astype(np.uint16), 1)
    digit = (row_low + raw % span + ord("0")).astype(np.uint8)
    out = np.where(placeholder, digit, chars[fmt])
    # an Arrow string array straight from the bytes: drop the NUL padding, offsets from the lengths
    row_len = lengths[fmt]
    data = out[np.arange(out.shape[1]) < row_len[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(row_len, out=offsets[1:])
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)))
    return _to_numpy(arr)


def _building_numbers(rng: np.random.Generator, n: int, high: int) -> np.ndarray:
    """Building numbers in ``1..high``, log-uniform so that small numbers are the most common."""
    values = np.exp(rng.random(n) * np.log(high + 1.0)).astype(np.int64)
    return np.clip(values, 1, high)


def make_street_addresses(rng: np.random.Generator, n: int, locale: str) -> np.ndarray:
    """Draw ``n`` street addresses in the style of ``locale``.

    Examples: ``"12 Oak Street"`` (en_US), ``"7 Station Road"`` (en_GB), ``"Hauptstraße 12a"`` (de_DE),
    ``"3 rue Victor Hugo"`` (fr_FR).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of addresses.
    locale : str
        One of :data:`SUPPORTED_LOCALES`.

    Returns
    -------
    numpy.ndarray
        Object array of ``str``.
    """
    pools = name_pools(locale)
    if n == 0:
        return np.empty(0, dtype=object)
    street = _arrow_pool(locale, "street_names").take(
        pa.array(rng.integers(0, len(pools.street_names), size=n))
    )
    numbers = _arrow_pool(locale, "numbers")
    high = {"en_US": 9999, "en_GB": 250}.get(locale, 150)
    number = numbers.take(pa.array(_building_numbers(rng, n, high)))
    if locale in ("en_US", "en_GB"):
        return _to_numpy(_join(number, " ", street))
    if locale == "de_DE":  # "Hauptstraße 12", sometimes "12a"
        letter = np.where(rng.random(n) < 0.05, rng.integers(1, 4, size=n), 0)
        suffix = _pa_strings(["", "a", "b", "c"]).take(pa.array(letter))
        return _to_numpy(_join(street, " ", number, suffix))
    bis = _pa_strings(["", " bis"]).take(pa.array((rng.random(n) < 0.04).astype(np.int8)))  # fr_FR
    return _to_numpy(_join(number, bis, " ", street))


# Brand templates per locale, "template:weight", "|"-separated. "{}" is a brand word; "{} & {}" two of them.
_BRAND_TEMPLATES: dict[str, str] = {
    "en_US": "{}:3|{}'s:1.5|{} & {}:1.5|{} Farms:1|{} Foods:1|{} Kitchen:1|{} Naturals:0.7|{} Home:0.7|"
    "{} Organics:0.5|{} Brothers:0.5|{} & Co.:0.7|{} Essentials:0.5|{} Select:0.5|{} Goods:0.5|"
    "{} Classic:0.4",
    "en_GB": "{}:3|{}'s:1.5|{} & {}:1.5|{} & Sons:1|{} Farm:1|{} Foods:1|{} Kitchen:0.8|{} Larder:0.5|"
    "{} Naturals:0.5|{} Home:0.7|{} & Co.:0.7|{} Essentials:0.5|{} Select:0.5|{} Brothers:0.5",
    "de_DE": "{}:3|{} & {}:1.5|{} Feinkost:1|{} & Söhne:0.8|{}s Hof:0.6|{} Mühle:0.5|{} Natur:0.7|"
    "{} Manufaktur:0.5|Landhaus {}:0.5|{} Gold:0.4|{} Frisch:0.5|{} Home:0.5",
    "fr_FR": "{}:3|{} & {}:1.5|Maison {}:1.5|{} & Fils:1|{} Frères:0.8|Les Délices de {}:0.5|"
    "Domaine {}:0.4|{} Terroir:0.5|Atelier {}:0.5|{} Nature:0.6|Ferme {}:0.5",
}


def _brand_candidates(rng: np.random.Generator, locale: str, m: int) -> np.ndarray:
    """``m`` random (possibly repeated) brand names for ``locale``."""
    words = name_pools(locale).brand_words
    templates, p = _parse_weighted(_BRAND_TEMPLATES[locale])
    kind = _draw(rng, p, m)
    # Zipf-like preference for frequent surnames, so that brands reuse familiar names
    w1 = np.minimum((len(words) * rng.random(m) ** 1.6).astype(np.int64), len(words) - 1)
    w2 = rng.integers(0, len(words), size=m)
    w2 = np.where(w2 == w1, (w2 + 1) % len(words), w2)  # "Smith & Smith" is not a brand
    out = np.empty(m, dtype=object)
    for k, template in enumerate(templates):
        sel = np.flatnonzero(kind == k)
        if sel.size == 0:
            continue
        head, _, rest = template.partition("{}")
        if rest.startswith(" & {}"):
            out[sel] = _concat(head, words[w1[sel]], " & ", words[w2[sel]], rest[len(" & {}") :])
        else:
            out[sel] = _concat(head, words[w1[sel]], rest)
    return out


def make_brands(rng: np.random.Generator, n: int, locale: str) -> np.ndarray:
    """Draw ``n`` distinct consumer brand names in the style of ``locale``.

    Examples: ``"Harper Farms"``, ``"Miller's"``, ``"Keller & Braun"``, ``"Maison Girard"``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    n : int
        Number of brands.
    locale : str
        One of :data:`SUPPORTED_LOCALES`.

    Returns
    -------
    numpy.ndarray
        Object array of ``n`` unique ``str``, in random order.
    """
    _check_locale(locale)
    out = np.empty(0, dtype=object)
    for _ in range(16):
        need = n - out.size
        if need <= 0:
            break
        before = out.size
        candidates = pa.array(
            np.concatenate([out, _brand_candidates(rng, locale, 2 * need + 16)]), pa.string()
        )
        out = _to_numpy(pc.unique(candidates))[:n]  # hash-based, in order of first occurrence
        if out.size - before < max(1, need // 100):  # the template space is nearly exhausted
            break
    if out.size < n:  # number the extra brands; no template ends with " <digits>", so they stay unique
        extra = _brand_candidates(rng, locale, n - out.size)
        numbers = np.arange(out.size, n).astype(str).astype(object)
        out = np.concatenate([out, _concat(extra, " ", numbers)])
    return out.astype(object)
