"""Organic prompt text: a tiny recursive grammar, its rules and the accounts' system prompts.

The grammar gives organic prompts enough combinatorial variety that two of them rarely
coincide, while the campaign templates (``templates``) keep fixed wording around slots
that a normalising fingerprint (numbers, identifiers, code, quoted strings) would collapse.
The slot generators here (identifiers, paths, code) fill both.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from distillguard.simulator.sampling import _pick

_FMT = string.Formatter()


def _compile(text: str) -> str | tuple[tuple[str, str | None], ...]:
    """A rule alternative parsed once: plain text, or (literal, placeholder) pairs."""
    parts = tuple((lit, name) for lit, name, _, _ in _FMT.parse(text))
    if len(parts) == 1 and parts[0][1] is None:
        return parts[0][0]
    return parts


class Grammar:
    """Expands ``{symbol}`` placeholders recursively from rule lists and dynamic slots."""

    def __init__(self, rules: dict[str, tuple[str, ...]],
                 dynamic: dict[str, Callable[[random.Random], str]]) -> None:
        self._rules = {k: tuple(_compile(alt) for alt in alts) for k, alts in rules.items()}
        self._dynamic = dynamic

    def symbols(self) -> set[str]:
        """Every symbol this grammar can expand: its rules and its dynamic slots."""
        return set(self._rules) | set(self._dynamic)

    def referenced(self) -> set[str]:
        """Every placeholder used by any rule (a test checks they all resolve)."""
        return {name for alts in self._rules.values() for alt in alts if not isinstance(alt, str)
                for _, name in alt if name}

    def expand(self, rng: random.Random, symbol: str) -> str:
        """One random text for ``symbol``: an alternative picked by ``rng``, placeholders
        expanded in turn.

        >>> g = Grammar({"greet": ("hello {who}",), "who": ("world",)}, {})
        >>> g.expand(random.Random(0), "greet")
        'hello world'
        """
        dyn = self._dynamic.get(symbol)
        if dyn is not None:
            return dyn(rng)
        alts = self._rules[symbol]
        alt = alts[int(rng.random() * len(alts))]
        if isinstance(alt, str):
            return alt
        out = []
        for lit, name in alt:
            out.append(lit)
            if name:
                out.append(self.expand(rng, name))
        return "".join(out)


# ---- words the slot generators combine

#: verbs of generated identifiers (``get_user``, ``parseOrder``)
ID_VERBS = ("get", "set", "load", "parse", "build", "fetch", "compute", "update", "validate",
            "render", "merge", "split", "encode", "decode", "sync", "flush", "resolve",
            "normalize", "apply", "handle", "find", "sort", "filter", "emit", "retry")
#: nouns of generated identifiers, class names, paths and JSON keys
ID_NOUNS = ("user", "order", "cache", "config", "token", "record", "buffer", "session",
            "matrix", "graph", "node", "edge", "invoice", "payload", "event", "queue", "path",
            "header", "score", "window", "batch", "index", "schema", "route", "shard", "row")
#: directories of generated source paths
DIRS = ("src", "lib", "app", "pkg", "internal", "services", "api", "core", "utils", "web",
        "server", "cmd", "components", "models", "handlers", "jobs")
#: extensions of generated source paths
EXTS = ("py", "ts", "tsx", "go", "rs", "js", "java", "sql", "yaml", "rb")
#: first names of people mentioned in prompts and generated records
NAMES = ("Alice", "Bob", "Priya", "Chen", "Lucas", "Fatima", "Kenji", "Sofia", "Omar", "Mia",
         "Diego", "Hana", "Noah", "Amara", "Ivan", "Lea", "Ravi", "Emma", "Yuki", "Tom")


def _ident(rng: random.Random) -> str:
    verb, noun = _pick(rng, ID_VERBS), _pick(rng, ID_NOUNS)
    extra = _pick(rng, ID_NOUNS) if rng.random() < 0.4 else ""
    if rng.random() < 0.5:
        return f"{verb}_{noun}_{extra}" if extra else f"{verb}_{noun}"
    return f"{verb}{noun.capitalize()}{extra.capitalize()}"


def _class_name(rng: random.Random) -> str:
    suffix = _pick(rng, ("", "Service", "Manager", "Client", "Handler", "Store", "Builder"))
    return f"{_pick(rng, ID_NOUNS).capitalize()}{_pick(rng, ID_NOUNS).capitalize()}{suffix}"


def _path(rng: random.Random) -> str:
    depth = rng.randint(1, 3)
    dirs = "/".join(_pick(rng, DIRS) for _ in range(depth))
    return f"{dirs}/{_pick(rng, ID_NOUNS)}_{_pick(rng, ID_NOUNS)}.{_pick(rng, EXTS)}"


def _repo(rng: random.Random) -> str:
    return f"{_pick(rng, ID_NOUNS)}{_pick(rng, ('labs', 'io', 'hq', 'dev', 'co'))}/" \
           f"{_pick(rng, ID_NOUNS)}-{_pick(rng, ID_NOUNS)}"


def _small(rng: random.Random) -> str:
    return str(rng.randint(2, 12))


def _num(rng: random.Random) -> str:
    return str(int(rng.lognormvariate(4.0, 1.6)) + 1)


def _secs(rng: random.Random) -> str:
    return f"{rng.uniform(0.2, 95):.2f}"


def _code_py(rng: random.Random) -> str:
    fn, a, b, acc = _ident(rng), _pick(rng, ID_NOUNS), _pick(rng, ID_NOUNS) + "s", "result"
    k, m = rng.randint(2, 97), rng.randint(2, 9)
    shape = rng.randrange(4)
    if shape == 0:
        body = (f"    {acc} = []\n    for i, item in enumerate({b}):\n"
                f"        if i % {m} == 0 and item.{a} > {k}:\n            {acc}.append(item)\n"
                f"    return {acc}")
        return f"```python\ndef {fn}({b}):\n{body}\n```"
    if shape == 1:
        return (f"```python\nclass {_class_name(rng)}:\n    def __init__(self, {a}):\n"
                f"        self.{a} = {a}\n        self.limit = {k}\n\n"
                f"    def {fn}(self, {b}):\n        return sorted({b}, key=lambda x: x.{a})"
                f"[: self.limit]\n```")
    if shape == 2:
        return (f"```python\nasync def {fn}(client, {a}_id):\n    for attempt in range({m}):\n"
                f"        resp = await client.get(f\"/{a}s/{{{a}_id}}\")\n"
                f"        if resp.status_code == 200:\n            return resp.json()\n"
                f"        await asyncio.sleep({k} / 10)\n    raise TimeoutError({a}_id)\n```")
    return (f"```python\ndef {fn}(d, {a}):\n    total = 0\n    for key in d:\n"
            f"        total += d[key].get(\"{a}\", {k})\n    return total / len(d)\n```")


def _code_ts(rng: random.Random) -> str:
    fn, a, k = _ident(rng), _pick(rng, ID_NOUNS), rng.randint(2, 500)
    cls = _class_name(rng)
    if rng.random() < 0.5:
        return (f"```typescript\nexport async function {fn}(ids: string[]): Promise<{cls}[]> {{\n"
                f"  const out: {cls}[] = [];\n  for (const id of ids.slice(0, {k})) {{\n"
                f"    const res = await fetch(`/api/{a}/${{id}}`);\n"
                f"    out.push(await res.json());\n  }}\n  return out;\n}}\n```")
    return (f"```typescript\nconst {fn} = (items: {cls}[]) =>\n"
            f"  items.filter((x) => x.{a} !== undefined && x.{a} > {k})\n"
            f"       .map((x) => ({{ ...x, {a}: x.{a} * 2 }}));\n```")


def _code_go(rng: random.Random) -> str:
    fn, a, k = _ident(rng), _pick(rng, ID_NOUNS), rng.randint(2, 64)
    return (f"```go\nfunc {fn}(ctx context.Context, {a}s []string) (map[string]int, error) {{\n"
            f"\tcounts := make(map[string]int, {k})\n\tfor _, s := range {a}s {{\n"
            f"\t\tif ctx.Err() != nil {{\n\t\t\treturn nil, ctx.Err()\n\t\t}}\n"
            f"\t\tcounts[s]++\n\t}}\n\treturn counts, nil\n}}\n```")


def _code(rng: random.Random) -> str:
    u = rng.random()
    return _code_py(rng) if u < 0.55 else _code_ts(rng) if u < 0.85 else _code_go(rng)


def _json_record(rng: random.Random) -> str:
    keys = rng.sample(ID_NOUNS, rng.randint(3, 5))
    vals = [_pick(rng, (str(rng.randint(0, 9999)), f'"{_pick(rng, NAMES)}"', "true", "null"))
            for _ in keys]
    body = ", ".join(f'"{k}": {v}' for k, v in zip(keys, vals, strict=True))
    return f"```json\n{{{body}}}\n```"


def _money(rng: random.Random) -> str:
    return f"${rng.randint(5, 4000)}"


#: generated slots of ``GRAMMAR``: symbol -> a function drawing its text
DYNAMIC: dict[str, Callable[[random.Random], str]] = {
    "ident": _ident, "class": _class_name, "path": _path, "n": _small, "num": _num,
    "secs": _secs, "code": _code, "code_py": _code_py, "money": _money,
    "name": lambda rng: _pick(rng, NAMES),
    "test_name": lambda rng: f"test_{_ident(rng).lower()}",
}
#: the organic prompt rules: symbol -> its alternative phrasings, ``{symbol}`` placeholders
RULES: dict[str, tuple[str, ...]] = {
    # ---- casual chat ----------------------------------------------------------------
    "chat": (
        "{hey}what's the best way to {activity} {context}?{extra}",
        "{hey}can you recommend {n} {items} for {occasion}?{extra}",
        "{hey}how do I {chore} without {constraint}?{extra}",
        "{hey}is it normal for {subject} to {behaviour}?{extra}",
        "{hey}I want to {activity}. {feeling} Where should I start?{extra}",
        "{hey}what are some good {items} for {occasion}? {preference}{extra}",
        "{hey}my {relation} {situation}. {ask_advice}{extra}",
        "{hey}plan a {trip_len} itinerary for {place} {trip_ctx}.{extra}",
        "{hey}what should I cook tonight with {ingredient}, {veg} and {pantry}?",
        "{hey}give me a {routine} routine I can do {context}.{extra}",
    ),
    "hey": ("", "", "", "hey, ", "Hi! ", "ok so ", "quick question: ", "Hello, ", "hmm "),
    "extra": ("", "", "", "", " Keep it short.", " I'm on a budget.", " Thanks!",
              " Bullet points please.", " I have about {n} hours.", " Be honest.",
              " I live in {place}.", " For context I'm {age}."),
    "activity": ("learn guitar", "save money on groceries", "get better sleep", "start running",
                 "keep basil alive", "meal prep for the week", "train a puppy", "learn Spanish",
                 "declutter a small closet", "plan a road trip", "stay focused while studying",
                 "get into birdwatching", "fix a squeaky door", "make sourdough bread",
                 "pick a first camera", "build a reading habit", "learn to swim as an adult",
                 "negotiate a raise", "start journaling", "grow tomatoes on a balcony",
                 "paint a bedroom", "prepare for a job interview", "learn chess openings",
                 "make new friends in a new city", "lower my electricity bill"),
    "context": ("as a beginner", "on a tight budget", "with only {n} minutes a day",
                "in a small apartment", "after work", "when it's raining all week",
                "with two kids at home", "without a car", "at {age}", "during winter",
                "while travelling", "with a bad knee"),
    "items": ("books", "podcasts", "board games", "hiking trails", "recipes", "houseplants",
              "budget laptops", "sci-fi movies", "gift ideas", "stretches", "apps", "albums",
              "weekend trips", "breakfast ideas", "productivity tips", "card games",
              "documentaries", "running shoes", "indoor activities", "anime series"),
    "occasion": ("a rainy weekend", "my mom's birthday", "a long flight", "a first date",
                 "a team offsite", "a {age} year old", "someone who loves cooking",
                 "a housewarming", "a camping trip", "a book club", "new parents",
                 "a retirement party", "a snowy day", "a kid's science fair"),
    "chore": ("clean a cast iron pan", "remove coffee stains from a carpet",
              "unclog a drain", "fold a fitted sheet", "descale a kettle",
              "get rid of fruit flies", "store fresh herbs", "wash a down jacket",
              "organize cables under my desk", "defrost a freezer"),
    "constraint": ("harsh chemicals", "spending much", "special tools", "making a mess",
                   "a dryer", "vinegar", "calling someone", "wasting a whole weekend"),
    "subject": ("my cat", "a 3 month old puppy", "my sourdough starter", "my laptop battery",
                "my monstera", "a toddler", "my car", "my phone"),
    "behaviour": ("sleep 18 hours a day", "smell like vinegar", "drain overnight",
                  "get yellow leaves", "wake up at 5am", "make a clicking noise",
                  "get hot while charging", "refuse to eat vegetables"),
    "feeling": ("", "I feel a bit overwhelmed.", "I've tried before and gave up.",
                "I'm excited but clueless.", "My friends all seem to know how already."),
    "preference": ("", "Nothing too scary.", "I prefer something relaxing.",
                   "Ideally under {money}.", "I already tried the popular ones.",
                   "Something I can share with friends."),
    "relation": ("roommate", "sister", "coworker", "best friend", "neighbour", "dad",
                 "partner", "manager", "landlord", "son"),
    "situation": ("keeps borrowing money and never pays it back",
                  "wants to move across the country", "forgot my birthday again",
                  "plays loud music late at night", "is starting a new job next week",
                  "asked me to be their wedding witness", "is always late",
                  "wants to adopt a dog but travels a lot"),
    "ask_advice": ("Any advice?", "How should I bring it up?", "What would you do?",
                   "Is it worth talking about?", "How do I handle this politely?"),
    "trip_len": ("3-day", "weekend", "one week", "10-day", "two day"),
    "place": ("Lisbon", "Kyoto", "Mexico City", "Vancouver", "Rome", "Seoul", "Cape Town",
              "Edinburgh", "Bangkok", "Chicago", "Prague", "Melbourne", "Istanbul",
              "Buenos Aires", "Oslo", "Hanoi"),
    "trip_ctx": ("with kids", "on a budget", "for a foodie", "in the off season",
                 "without renting a car", "for someone who hates museums",
                 "with my parents"),
    "ingredient": ("chickpeas", "spinach", "leftover rice", "eggs", "feta", "zucchini",
                   "canned tuna", "tofu", "sweet potatoes", "mushrooms", "lentils",
                   "chicken thighs", "coconut milk", "tortillas", "broccoli"),
    "veg": ("kale", "carrots", "cauliflower", "peppers", "leeks", "green beans", "cabbage",
            "eggplant", "peas", "asparagus"),
    "pantry": ("pasta", "rice noodles", "canned tomatoes", "quinoa", "black beans", "couscous",
               "peanut butter", "bread", "oats", "miso"),
    "routine": ("10 minute stretching", "morning", "beginner strength", "wind-down",
                "desk posture", "5k training"),
    "age": ("25", "31", "40", "52", "67", "19", "8", "12", "35", "73"),
    # ---- writing -----------------------------------------------------------------------
    "writing": (
        "Write a {tone} {doc} to my {recipient} about {topic}.{wextra}",
        "Help me rewrite this so it sounds more {adj}: \"{sentence}\"",
        "Draft a {doc} announcing {topic}. {wextra}",
        "Give me {n} title ideas for a {doc} about {topic}.",
        "Proofread this please: {sentence} {sentence}",
        "Can you make this {doc} more {adj}? {sentence}",
        "write a short poem about {poem_topic} in the style of {style}",
        "I need a {tone} reply to this message: \"{sentence}\"",
        "Write a {n}-sentence bio for {name}, a {job} who loves {hobby}.",
        "turn these notes into a {doc}: {topic}, {topic}, and {topic}",
    ),
    "tone": ("polite", "friendly", "formal", "short", "warm", "firm but kind", "funny",
             "professional", "heartfelt", "casual"),
    "doc": ("email", "cover letter", "toast", "LinkedIn post", "thank-you note", "newsletter",
            "complaint letter", "speech", "blog post", "product description", "apology"),
    "recipient": ("landlord", "team", "professor", "client", "neighbours", "boss",
                  "book club", "customers", "grandmother", "hiring manager"),
    "topic": ("the office moving to a new building", "a delayed shipment",
              "my resignation", "our summer party", "a rent increase", "a new product launch",
              "a missed deadline", "volunteering at the food bank", "the parking situation",
              "a schedule change", "our 10th anniversary", "a lost package",
              "switching to a four-day week", "the new recycling rules"),
    "adj": ("confident", "concise", "professional", "friendly", "persuasive", "natural",
            "enthusiastic", "polite", "clear"),
    "sentence": (
        "{Subj} {verb_past} {obj} {adverbial}.",
        "I {feel_verb} that {subj} {verb_past} {obj}.",
        "{Subj} will {verb_base} {obj} {adverbial}.",
    ),
    "Subj": ("The team", "My manager", "Our client", "The landlord", "My friend", "We",
             "The school", "Everyone", "The new hire", "Our neighbour"),
    "subj": ("the team", "my manager", "our client", "the landlord", "my friend", "we",
             "the school", "everyone", "the new hire"),
    "verb_past": ("finished", "postponed", "forgot", "approved", "rejected", "moved",
                  "cancelled", "reviewed", "announced", "misplaced"),
    "verb_base": ("finish", "postpone", "review", "approve", "announce", "reschedule",
                  "discuss", "deliver"),
    "obj": ("the report", "the meeting", "the invoice", "the proposal", "the launch",
            "the contract", "the budget", "the survey results", "the party", "the order"),
    "adverbial": ("last week", "without telling anyone", "by Friday", "ahead of schedule",
                  "at the last minute", "twice", "next month", "after lunch", "again"),
    "feel_verb": ("think", "worry", "feel", "suspect", "am glad", "heard"),
    "wextra": ("", "", " Keep it under {num} words.", " Not too cheesy.",
               " It should sound like me, not a robot.", " Include a call to action."),
    "poem_topic": ("autumn rain", "my dog", "Monday mornings", "the ocean", "coffee",
                   "a city at night", "moving away", "friendship"),
    "style": ("Mary Oliver", "a pirate", "a haiku", "Dr. Seuss", "a sonnet", "free verse"),
    "job": ("nurse", "baker", "data analyst", "teacher", "architect", "photographer",
            "product manager", "chef", "electrician"),
    "hobby": ("trail running", "pottery", "jazz", "board games", "gardening", "climbing"),
    # ---- reasoning / other ------------------------------------------------------------
    "reasoning": (
        "If {name} has {num} {things} and gives {n} to {name}, how many are left?{cot}",
        "What's the difference between {concept} and {concept}?{cot}",
        "Why does {phenomenon}?{cot}",
        "Is it true that {claim}?{cot}",
        "Compare {option} and {option} for {purpose}.{cot}",
        "A train leaves at {n}:00 going {num} km/h. {riddle_tail}{cot}",
        "How many {things} would fit in {container}? Rough estimate is fine.{cot}",
        "Which is more likely: {event} or {event}?{cot}",
    ),
    "cot": ("", "", "", "", "", " Explain your reasoning.", " Can you explain step by step?",
            " Show your work please.", " Why?"),
    "things": ("apples", "marbles", "stickers", "books", "cookies", "tickets", "coins"),
    "concept": ("weather and climate", "a virus", "a bacterium", "stocks", "bonds",
                "an LLC", "a sole proprietorship", "affect", "effect", "empathy",
                "sympathy", "a roth IRA", "a 401k", "baking soda", "baking powder",
                "latitude", "longitude", "mitosis", "meiosis"),
    "phenomenon": ("the sky look blue", "ice float on water", "bread go stale",
                   "my ears pop on planes", "the moon look bigger near the horizon",
                   "coffee make me sleepy sometimes", "metal feel colder than wood",
                   "onions make you cry"),
    "claim": ("we only use 10% of our brains", "goldfish have a 3 second memory",
              "lightning never strikes the same place twice",
              "cracking knuckles causes arthritis", "bulls hate the color red",
              "the Great Wall is visible from space"),
    "option": ("renting", "buying", "a heat pump", "a gas furnace", "an e-bike",
               "public transit", "index funds", "a savings account", "a Kindle",
               "paper books", "Python", "Excel"),
    "purpose": ("a family of four", "a student", "a long commute", "retirement savings",
                "a small business", "someone who travels a lot"),
    "riddle_tail": ("Another leaves {n} hours later at {num} km/h. When does it catch up?",
                    "How far has it gone by {n}:30?"),
    "container": ("a school bus", "an Olympic pool", "my car", "a shoebox"),
    "event": ("getting struck by lightning", "winning the lottery",
              "finding a four-leaf clover", "being dealt a flush"),
    "other": (
        "Translate to {language}: \"{sentence}\"",
        "What does the word \"{word}\" mean?",
        "Convert {num} {unit} to {unit2}.",
        "Give me a fun fact about {fact_topic}.",
        "Summarize this for me: {sentence} {sentence} {sentence}",
        "what year did {history} happen",
        "How do you pronounce {word}?",
        "what's a good name for a {pet}? it's {pet_trait}",
        "{word} synonyms?",
    ),
    "language": ("French", "Spanish", "German", "Japanese", "Portuguese", "Italian", "Korean"),
    "word": ("ephemeral", "petrichor", "sonder", "quixotic", "hygge", "saudade",
             "defenestration", "ubiquitous", "laconic", "serendipity", "gaslighting"),
    "unit": ("miles", "pounds", "cups", "ounces", "feet", "gallons"),
    "unit2": ("kilometers", "kilograms", "milliliters", "grams", "meters", "liters"),
    "fact_topic": ("octopuses", "the Roman empire", "honey", "volcanoes", "penguins",
                   "the human heart", "Saturn", "bananas"),
    "history": ("the fall of the Berlin wall", "the first moon landing",
                "the printing press invention", "the Titanic sinking"),
    "pet": ("kitten", "puppy", "hamster", "goldfish", "parrot"),
    "pet_trait": ("very shy", "orange and loud", "tiny and fluffy", "always hungry"),
    # ---- follow-ups inside a conversation -------------------------------------------
    "followup": (
        "can you make it {shorter}?", "what about {followup_alt}?", "thanks! {followup_more}",
        "hmm, {followup_doubt}", "ok and {followup_more}", "Can you give me {n} more?",
        "make it more {adj}", "that's great. {followup_more}", "wait, {followup_doubt}",
        "I don't like the {ordinal} one, replace it with something {adj}",
        "{followup_more}", "{followup_doubt}. {followup_more}",
        "ok the {ordinal} one sounds good. {followup_more}", "{hey}{followup_more}",
        "perfect, now {followup_task}", "can you {followup_task}?",
    ),
    "shorter": ("shorter", "a bit shorter", "less formal", "more casual", "simpler",
                "under {num} words", "funnier", "less wordy"),
    "followup_task": ("translate it to {language}", "turn it into a checklist",
                      "add a section about {topic}", "explain the {ordinal} point more",
                      "rewrite it for a {age} year old", "summarize it in {n} bullets",
                      "add some {items} ideas too", "compare it with {option}"),
    "followup_alt": ("a cheaper option", "doing it on weekends", "the second idea",
                     "something for kids", "a vegetarian version", "{place}",
                     "doing it without {constraint}", "the winter months"),
    "followup_more": ("how long would that take?", "what would it cost roughly?",
                      "can you put that in a table?", "which one would you pick?",
                      "what are the downsides?", "how do I explain this to my {relation}?",
                      "could you add a few examples?", "any tips for a beginner?"),
    "followup_doubt": ("are you sure about that?", "I read the opposite somewhere",
                       "that seems like a lot", "I don't think that applies in {place}",
                       "that didn't work for me", "isn't that outdated?"),
    "ordinal": ("first", "second", "third", "last"),
    # ---- coding questions from casual users and students -----------------------------
    "coding_q": (
        "How do I {coding_goal} in {plang}?",
        "why do I get {err} when I run this?\n{code}",
        "What's the difference between {code_concept} and {code_concept} in {plang}?",
        "Can you explain what this code does?\n{code}",
        "{hw_intro} {hw_task}. {hw_ask}",
        "my {plang} program prints the wrong answer for n={num}. {hw_ask}\n{code_py}",
        "is {plang} or {plang} better for {coding_purpose}?",
        "what does `{ident}` mean in this error: {err}",
    ),
    "plang": ("Python", "JavaScript", "Java", "C++", "Rust", "Go", "SQL", "R", "TypeScript"),
    "coding_goal": ("reverse a string", "read a CSV file", "sort a dictionary by value",
                    "make an HTTP request", "remove duplicates from a list",
                    "parse JSON", "center a div", "write a unit test", "use a virtualenv",
                    "split a string by commas", "connect to a database", "measure run time",
                    "read user input", "round to 2 decimals"),
    "code_concept": ("a list", "a tuple", "let", "var", "== ", "is", "an interface",
                     "an abstract class", "a thread", "a process", "map", "forEach",
                     "pass by value", "pass by reference", "a struct", "a class"),
    "hw_intro": ("My homework asks me to", "For my CS class I need to", "Our lab assignment is to",
                 "I have to", "The exercise says:"),
    "hw_task": ("write a recursive function for the nth Fibonacci number",
                "implement binary search on a sorted array",
                "find the most common word in a text file",
                "simulate a bank account class with deposits and withdrawals",
                "check if a string is a palindrome", "implement bubble sort and count swaps",
                "compute the GCD of two numbers", "build a linked list with insert and delete",
                "parse a date string and print the weekday", "draw a triangle of stars"),
    "hw_ask": ("Where do I start?", "I don't understand the hint.",
               "Can you give me a hint without the full answer?", "what am I doing wrong?",
               "Is my approach okay?", "Please explain step by step, I have an exam soon."),
    "coding_purpose": ("data science", "web backends", "a first language", "game dev",
                       "scripting", "competitive programming"),
    "err": (
        "KeyError: '{ident}'", "TypeError: '{class}' object is not iterable",
        "IndexError: list index out of range", "NameError: name '{ident}' is not defined",
        "ModuleNotFoundError: No module named '{ident}'",
        "TypeError: Cannot read properties of undefined (reading '{ident}')",
        "panic: runtime error: index out of range [{n}] with length {n}",
        "error[E0382]: borrow of moved value: `{ident}`",
        "AssertionError: expected {num} but got {num}",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "SyntaxError: unexpected EOF while parsing",
        "NullPointerException at {class}.{ident}({class}.java:{num})",
    ),
    # ---- developer agent ----------------------------------------------------------------
    "dev_instr": (
        "{dev_verb} {dev_obj}{dev_where}{dev_qual}",
        "{dev_verb} {dev_obj}{dev_where}{dev_qual}. {dev_tail}",
        "{dev_report} {dev_ask}",
        "I'm seeing {err} {dev_when}. {dev_ask}",
        "{dev_prefix}{dev_verb} {dev_obj}{dev_where}",
        "the {dev_thing} is {dev_broken} {dev_when}. {dev_ask}",
        "we need to {dev_feature}. {dev_plan}",
        "read {path} and {dev_verb} {dev_obj}",
    ),
    "dev_verb": ("fix", "refactor", "add tests for", "rename", "speed up", "document",
                 "add logging to", "remove", "migrate", "debug", "extract", "implement",
                 "review", "wire up", "simplify", "type-annotate", "split up", "deprecate"),
    "dev_obj": ("the retry logic", "`{ident}`", "the failing test", "the login flow",
                "the CSV export", "pagination", "the websocket handler", "`{class}`",
                "the config loader", "error handling in `{ident}`", "the migration script",
                "the rate limiter", "the cache invalidation", "the {dev_thing}",
                "the flaky `{test_name}`", "the N+1 query in `{ident}`"),
    "dev_thing": ("search endpoint", "nightly job", "dashboard", "auth middleware",
                  "upload handler", "billing webhook", "feature flag check", "CLI parser",
                  "docker build", "CI pipeline", "Terraform module", "settings page"),
    "dev_where": ("", "", " in {path}", " in `{class}`", " under {path}", " across the repo"),
    "dev_qual": ("", "", " so it handles empty input", " without changing the public API",
                 " and update the docs", " using the existing helper", " with proper types",
                 " behind a feature flag", " and keep backwards compatibility",
                 " but don't touch the tests", " to match the style in {path}"),
    "dev_tail": ("Run the tests after.", "Keep the diff small.", "Explain what you changed.",
                 "Don't add new dependencies.", "Commit when green.", "Use {plang} idioms."),
    "dev_prefix": ("", "ok now ", "next, ", "please ", "can you ", "also "),
    "dev_report": (
        "the {dev_thing} returns {http_code} for {n}% of requests since the last deploy.",
        "CI fails on {test_name} with {err}.",
        "Users report the {dev_thing} takes {num} seconds to load.",
        "`{ident}` leaks memory when called in a loop.",
    ),
    "dev_ask": ("Can you find the cause?", "Fix it.", "What's going on?",
                "Investigate and propose a fix.", "Any idea why?", "Dig in and fix it please."),
    "dev_when": ("after the last merge", "only in prod", "when the cache is cold",
                 "on Windows", "intermittently", "since upgrading {plang}", "under load"),
    "dev_broken": ("timing out", "returning stale data", "crashing", "double-charging",
                   "silently failing", "much slower"),
    "dev_feature": ("support bulk delete in the {dev_thing}", "add SSO to the {dev_thing}",
                    "export reports as parquet", "add a dark mode toggle",
                    "move `{ident}` to a background worker", "add retries to `{ident}`"),
    "dev_plan": ("Start with a plan.", "Look at {path} first.", "Write the tests first.",
                 "Keep it minimal for now.", ""),
    "http_code": ("500", "502", "504", "429", "404", "403"),
    "dev_followup": (
        "that didn't work, now I get {err}", "looks good, now {dev_verb} {dev_obj}",
        "run the tests again", "can you also {dev_verb} {dev_obj}?",
        "why did you change {path}?", "revert the change to {path}",
        "commit this with a good message", "ok but {dev_verb} {dev_obj} instead",
        "perfect. next: {dev_instr}",
    ),
    "tool_result": (
        ("Exit code {n}. Output:\n{num} passed, {n} failed in {secs}s\n"
         "FAILED tests/{test_name}.py::{test_name} - {err}"),
        "Contents of {path} (lines {num}-{num}):\n{code}",
        "{path}:{num}:    {ident}({ident}, {n})\n{path}:{num}:    return {ident}()",
        "Command `{shell_cmd}` finished:\n{cmd_output}",
        "Tool error: {err}",
        "The edit to {path} was applied successfully ({n} lines changed).",
        "Search results for \"{ident}\": {n} matches in {path}, {path}",
    ),
    "shell_cmd": ("npm test", "pytest -x -q", "go build ./...", "cargo check", "make lint",
                  "git status", "docker compose up -d", "ls {path}", "git diff --stat"),
    "cmd_output": ("ok ({secs}s)", "{n} files changed, {num} insertions(+), {num} deletions(-)",
                   "error: {err}", "Compiled successfully in {secs}s", "{num} warnings"),
    # ---- server apps: their end users' questions ----------------------------------------
    "app_support": (
        "how do I {support_action}?", "I was charged {money} twice this month, why?",
        "my order #{num} hasn't arrived yet", "can't log in, it says {support_error}",
        "is there a way to {support_action} on mobile?", "hi, {support_action} isn't working",
    ),
    "support_action": ("reset my password", "change my plan", "export my data",
                       "add a team member", "cancel my subscription", "update my card",
                       "delete my account", "turn off notifications", "connect my calendar"),
    "support_error": ("invalid token", "account locked", "session expired",
                      "too many attempts", "unknown error {num}"),
    "app_tutor": (
        "explain {school_topic} simply", "I don't get {school_topic}, can you help?",
        "quiz me on {school_topic}", "solve {n}x + {num} = {num} and explain",
        "what's the formula for {formula}?", "give me practice questions about {school_topic}",
    ),
    "school_topic": ("photosynthesis", "the causes of World War I", "fractions", "derivatives",
                     "the water cycle", "supply and demand", "Newton's second law",
                     "the French revolution", "cell division", "probability",
                     "the Pythagorean theorem", "plate tectonics"),
    "formula": ("the area of a circle", "compound interest", "kinetic energy",
                "the slope of a line", "standard deviation"),
    "app_recipes": (
        "{hey}what can I make with {ingredient} and {ingredient}?",
        "substitute for {ingredient} in a {dish}?", "how long do I bake a {dish} at {num}F?",
        "make this {dish} recipe vegan", "scale a {dish} recipe for {n} people",
    ),
    "dish": ("lasagna", "banana bread", "curry", "pizza dough", "chili", "pancakes",
             "brownies", "risotto", "stir fry", "quiche"),
    "app_travel": (
        "best time to visit {place}?", "what to pack for {place} in {month}?",
        "is {place} safe for solo travellers?", "cheap things to do in {place}",
        "how do I get from the airport to downtown {place}?",
    ),
    "month": ("January", "March", "May", "July", "September", "November", "December"),
    # ---- batch pipelines: one template each, organic free text inside --------------------
    "review_text": ("{review_open} {product} {review_verdict} {review_detail}",),
    "review_open": ("Bought this", "Got the", "Ordered the", "My wife uses the", "Tried the",
                    "Returned the", "Second time buying the", "Gifted the"),
    "product": ("blender", "headphones", "desk lamp", "running shoes", "phone case",
                "coffee grinder", "backpack", "air fryer", "keyboard", "yoga mat",
                "water bottle", "office chair"),
    "review_verdict": ("and it broke after {n} weeks.", "and it's perfect.",
                       "- decent for the price.", "and it stopped working.", "and I love it.",
                       "; meh.", "and it exceeded expectations.", "but the color was off."),
    "review_detail": ("", "Shipping took {n} days.", "Customer service never replied.",
                      "Would buy again.", "Battery life is great.", "Way too loud.",
                      "Instructions were useless.", "Fits exactly as described."),
    "ticket_text": ("{ticket_open} {support_action} {ticket_detail}",),
    "ticket_open": ("Hi, I can't", "Hello, how do I", "URGENT: unable to", "Please help me",
                    "We tried to", "Your app won't let me"),
    "ticket_detail": ("", "since yesterday.", "on the {dev_thing}.", "Error code {num}.",
                      "This is the {ordinal} time I ask.", "Our team of {num} is blocked."),
}

#: the grammar of every organic prompt
GRAMMAR = Grammar(RULES, DYNAMIC)

# ---- system prompts of organic accounts

#: system prompts of chat users and students (``None``: no system prompt)
SYSTEM_CASUAL = (None, None, None, "You are a helpful assistant.",
                 "You are a friendly, concise assistant.",
                 "You are a helpful assistant. Answer in plain language.")
#: system prompts of coding-agent clients
SYSTEM_AGENT = (
    ("You are an interactive CLI agent that helps users with software engineering tasks. "
     "Use the available tools to read files, run commands and edit code. Be concise. "
     "Never commit unless asked. Follow the project's conventions and verify changes by "
     "running the tests."),
    ("You are a coding assistant embedded in the user's editor. You can call tools to "
     "search the workspace, open files, apply edits and run terminal commands. Prefer small, "
     "reviewable diffs and explain non-obvious changes."),
)
#: server app kinds: (name, ``RULES`` symbol of its prompts, (task of those, task of the rest),
#: system prompt with a ``{brand}`` slot)
APP_KINDS = (
    ("support", "app_support", ("other", "chat"),
     ("You are {brand} Assistant, the customer support agent for {brand}. Only answer "
      "questions about {brand} products. Be polite and link to the help center when unsure.")),
    ("tutor", "app_tutor", ("reasoning", "chat"),
     ("You are {brand} Tutor, a patient teacher for high-school students. Never just give "
      "the answer: guide the student with hints and check their understanding.")),
    ("recipes", "app_recipes", ("chat", "other"),
     ("You are the cooking assistant inside the {brand} recipe app. Keep answers short and "
      "practical, use metric and imperial units.")),
    ("travel", "app_travel", ("chat", "other"),
     ("You are {brand} Travel Buddy. Give friendly, practical travel tips and never book "
      "anything on the user's behalf.")),
)
#: brands that name the server apps in their system prompts
BRANDS = ("Nimbus", "Acme", "Brightly", "Lumen", "Quokka", "Pathway", "Sprout", "Orbit",
          "Tandem", "Kettle", "Harbor", "Juniper")
#: batch job kinds: (``RULES`` symbol of the text, task, system prompt, prompt template with
#: ``{id}`` and ``{text}`` slots)
BATCH_KINDS = (
    ("review_text", "other",
     "You label product reviews. Reply with exactly one word.",
     ("Classify the sentiment of this review as positive, negative or neutral.\n"
      "Review #{id}: \"{text}\"")),
    ("ticket_text", "other",
     "You are a ticket router. Reply with the category name only.",
     "Route support ticket {id} to one of: billing, bug, account, how_to.\nTicket: \"{text}\""),
    ("review_text", "other",
     "Extract structured data. Reply with compact JSON only.",
     "Extract {{\"product\", \"sentiment\", \"issue\"}} from review {id}: \"{text}\""),
)

