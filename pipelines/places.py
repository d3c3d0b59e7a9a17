"""Which countries a piece of text names: a news URL's slug words or a Wikipedia article title.

The correlation engine uses this for one rule (`pipelines.correlate`, "country veto"): when the story a URL names
mentions some country and a title names only other countries ("2019 Bolivian protests" for
`.../european-executive-condemns-violence-in-chile`), the title is about another country's story. The slug, not
GDELT's actor and place fields, is the event side: the benchmark's labels follow the story in the URL, and GDELT's
geocoding often names a different country (measured in docs/correlation.md).

Matching is on lower-case words without accents: a country's name, its common adjectives and demonyms ("bolivian",
"turkish"), plural or possessive forms as slugs spell them ("bolivians", "sudans" from "sudan's"), multi-word names
matched longest first ("south sudanese" is South Sudan, not Sudan). Words that are usually something else in English
titles and slugs are left out: "georgia" (the US state), "jordan", "chad", "guinea" and "niger" (given names,
"Niger Delta"); their adjectives are kept. "korea"/"korean" alone names both Koreas, so it overlaps with either.
Capitals and cities are not countries here: a slug naming only "beijing" names no country, and no rule applies.

Pure Python (stdlib only), no Spark, no numpy.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping

# country: the words that name it (name, adjectives, demonyms, short forms). One line per country (UN members,
# Kosovo, Palestine, Taiwan, the Vatican).
_TABLE = """
afghanistan: afghanistan, afghan
albania: albania, albanian
algeria: algeria, algerian
andorra: andorra, andorran
angola: angola, angolan
antigua and barbuda: antigua and barbuda, antigua, barbuda, antiguan
argentina: argentina, argentine, argentinian
armenia: armenia, armenian
australia: australia, australian
austria: austria, austrian
azerbaijan: azerbaijan, azerbaijani, azeri
bahamas: bahamas, bahamian
bahrain: bahrain, bahraini
bangladesh: bangladesh, bangladeshi
barbados: barbados, barbadian
belarus: belarus, belarusian, belarussian
belgium: belgium, belgian
belize: belize, belizean
benin: benin, beninese
bhutan: bhutan, bhutanese
bolivia: bolivia, bolivian
bosnia and herzegovina: bosnia and herzegovina, bosnia, herzegovina, bosnian
botswana: botswana
brazil: brazil, brazilian
brunei: brunei
bulgaria: bulgaria, bulgarian
burkina faso: burkina faso, burkinabe
burundi: burundi, burundian
cambodia: cambodia, cambodian
cameroon: cameroon, cameroonian
canada: canada, canadian
cape verde: cape verde, cabo verde
central african republic: central african republic
chad: chadian
chile: chile, chilean
china: china, chinese, prc
colombia: colombia, colombian
comoros: comoros
congo: congo, congolese, drc
costa rica: costa rica, costa rican
croatia: croatia, croatian, croat
cuba: cuba, cuban
cyprus: cyprus, cypriot
czech republic: czech republic, czechia, czech
denmark: denmark, danish
djibouti: djibouti
dominican republic: dominican republic
ecuador: ecuador, ecuadorian, ecuadorean
egypt: egypt, egyptian
el salvador: el salvador, salvadoran
equatorial guinea: equatorial guinea
eritrea: eritrea, eritrean
estonia: estonia, estonian
eswatini: eswatini, swaziland
ethiopia: ethiopia, ethiopian
fiji: fiji, fijian
finland: finland, finnish
france: france, french
gabon: gabon, gabonese
gambia: gambia, gambian
georgia: georgian
germany: germany, german
ghana: ghana, ghanaian
greece: greece, greek
grenada: grenada
guatemala: guatemala, guatemalan
guinea: guinean
guinea-bissau: guinea-bissau, bissau
guyana: guyana, guyanese
haiti: haiti, haitian
honduras: honduras, honduran
hungary: hungary, hungarian
iceland: iceland, icelandic
india: india, indian
indonesia: indonesia, indonesian
iran: iran, iranian
iraq: iraq, iraqi
ireland: ireland, irish
israel: israel, israeli
italy: italy, italian
ivory coast: ivory coast, cote d'ivoire, ivorian
jamaica: jamaica, jamaican
japan: japan, japanese
jordan: jordanian
kazakhstan: kazakhstan, kazakh
kenya: kenya, kenyan
kiribati: kiribati
kosovo: kosovo, kosovar
kuwait: kuwait, kuwaiti
kyrgyzstan: kyrgyzstan, kyrgyz
laos: laos, lao, laotian
latvia: latvia, latvian
lebanon: lebanon, lebanese
lesotho: lesotho
liberia: liberia, liberian
libya: libya, libyan
liechtenstein: liechtenstein
lithuania: lithuania, lithuanian
luxembourg: luxembourg
madagascar: madagascar, malagasy
malawi: malawi, malawian
malaysia: malaysia, malaysian
maldives: maldives, maldivian
mali: mali, malian
malta: malta, maltese
marshall islands: marshall islands
mauritania: mauritania, mauritanian
mauritius: mauritius, mauritian
mexico: mexico, mexican
micronesia: micronesia
moldova: moldova, moldovan
monaco: monaco
mongolia: mongolia, mongolian
montenegro: montenegro, montenegrin
morocco: morocco, moroccan
mozambique: mozambique, mozambican
myanmar: myanmar, burma, burmese
namibia: namibia, namibian
nauru: nauru
nepal: nepal, nepali, nepalese
netherlands: netherlands, dutch
new zealand: new zealand
nicaragua: nicaragua, nicaraguan
niger: nigerien
nigeria: nigeria, nigerian
north korea: north korea, north korean, n korean, n korea, dprk
north macedonia: north macedonia, macedonia, macedonian
norway: norway, norwegian
oman: oman, omani
pakistan: pakistan, pakistani
palau: palau
palestine: palestine, palestinian
panama: panama, panamanian
papua new guinea: papua new guinea
paraguay: paraguay, paraguayan
peru: peru, peruvian
philippines: philippines, philippine, filipino
poland: poland, polish
portugal: portugal, portuguese
qatar: qatar, qatari
romania: romania, romanian
russia: russia, russian
rwanda: rwanda, rwandan
saint lucia: saint lucia
samoa: samoa, samoan
san marino: san marino
saudi arabia: saudi arabia, saudi
senegal: senegal, senegalese
serbia: serbia, serbian, serb
seychelles: seychelles
sierra leone: sierra leone
singapore: singapore, singaporean
slovakia: slovakia, slovak
slovenia: slovenia, slovenian, slovene
solomon islands: solomon islands
somalia: somalia, somali
south africa: south africa, south african
south korea: south korea, south korean, s korean
south sudan: south sudan, south sudanese
spain: spain, spanish
sri lanka: sri lanka, sri lankan
sudan: sudan, sudanese
suriname: suriname
sweden: sweden, swedish
switzerland: switzerland, swiss
syria: syria, syrian
taiwan: taiwan, taiwanese
tajikistan: tajikistan, tajik
tanzania: tanzania, tanzanian
thailand: thailand, thai
timor-leste: timor-leste, east timor
togo: togo, togolese
tonga: tonga, tongan
trinidad and tobago: trinidad and tobago, trinidad, tobago, trinidadian
tunisia: tunisia, tunisian
turkey: turkey, turkish, turk
turkmenistan: turkmenistan, turkmen
tuvalu: tuvalu
uganda: uganda, ugandan
ukraine: ukraine, ukrainian
united arab emirates: united arab emirates, uae, emirati
united kingdom: united kingdom, northern ireland, uk, britain, british, england, scotland, scottish, wales, welsh
united states: united states, u s, america, american, usa, us
uruguay: uruguay, uruguayan
uzbekistan: uzbekistan, uzbek
vanuatu: vanuatu
vatican: vatican, holy see
venezuela: venezuela, venezuelan
vietnam: vietnam, vietnamese
yemen: yemen, yemeni
zambia: zambia, zambian
zimbabwe: zimbabwe, zimbabwean
"""
# Words that name more than one country at once.
_SHARED_ALIASES: Mapping[str, tuple[str, ...]] = {
    "korea": ("north korea", "south korea"),
    "korean": ("north korea", "south korea"),
}

_WORD = re.compile(r"[a-z']+")


def _words(text: str) -> list[str]:
    """Lower-case words without accents; possessive "'s" dropped ("Sudan's" -> "sudan")."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    out = []
    for raw in _WORD.findall(plain):
        word = raw.strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if word:
            out.append(word)
    return out


def _alias_table() -> dict[tuple[str, ...], tuple[str, ...]]:
    table: dict[tuple[str, ...], tuple[str, ...]] = {}
    for line in _TABLE.strip().splitlines():
        country, aliases = line.split(":", 1)
        for alias in aliases.split(","):
            table[tuple(_words(alias))] = (country.strip(),)
    for alias, countries in _SHARED_ALIASES.items():
        table[tuple(_words(alias))] = countries
    return table


_ALIASES = _alias_table()
_LONGEST = max(len(words) for words in _ALIASES)
COUNTRIES: tuple[str, ...] = tuple(sorted({c for countries in _ALIASES.values() for c in countries}))
"""Every country `countries_named` can return, sorted (a stable column order for one-hot matrices)."""


def _lookup(words: tuple[str, ...]) -> tuple[str, ...] | None:
    found = _ALIASES.get(words)
    if found is None and len(words[-1]) >= 4 and words[-1].endswith("s"):
        # Plurals and slug possessives: "bolivians", "iraqis", "sudans" (from "sudan's"); not "uss" -> "us".
        found = _ALIASES.get((*words[:-1], words[-1][:-1]))
    return found


def countries_named(text: str) -> frozenset[str]:
    """The countries a text names, by the words above ("" names none).

    >>> sorted(countries_named("Japan and South Korea relations"))
    ['japan', 'south korea']
    """
    words = _words(text)
    found: set[str] = set()
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            countries = _lookup(tuple(words[i : i + size]))
            if countries is not None:
                found.update(countries)
                i += size
                break
        else:
            i += 1
    return frozenset(found)


def names_other_countries(event_countries: Iterable[str], title_countries: Iterable[str]) -> bool:
    """True when both sides name countries and share none: the title is about another country's story."""
    event_side, title_side = set(event_countries), set(title_countries)
    return bool(event_side) and bool(title_side) and not event_side & title_side
