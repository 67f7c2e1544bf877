"""Pages of the listening test (Jinja, autoescaped; no scripts)."""

from __future__ import annotations

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
.box { border: 1px solid #ccc; border-radius: 6px; padding: .8rem 1rem; margin: .8rem 0; }
.reference { background: #f3f6fb; }
.scale label { margin-right: 1.2rem; white-space: nowrap; }
.tracks { display: flex; flex-wrap: wrap; gap: .5rem; margin: .4rem 0 .6rem; }
audio { width: 13.5rem; }
.reference audio { width: 24rem; }
button { font-size: 1rem; padding: .45rem 1.2rem; }
.note { color: #555; font-size: .92rem; }
.simulated { color: #a00; font-weight: bold; }
.error { border-color: #c33; background: #fff3f3; }
progress { width: 16rem; vertical-align: middle; }
</style></head><body>
"""
_FOOT = "</body></html>\n"

WELCOME_PAGE = (
    _HEAD
    + """<h1>Which tracks sound alike?</h1>
{% if synthetic %}<p class="simulated">Demo study: the audio is synthetic (made by nnsim).</p>{% endif %}
<p>Imagine a music app that tells you: <em>“If you liked how this track sounds, you might like
these other tracks.”</em> You will hear {{ n_refs }} reference tracks. For each one, several
short playlists are proposed. Please rate how similar each playlist sounds to the reference.</p>
<p>It takes about {{ minutes }} minutes (the excerpts alone last that long). Each player starts
in the middle of the track and plays {{ '%g' % player.play }} seconds; press play again or move
the slider to hear more. If a reference is in a genre
you do not know, you may skip it.</p>
<p class="note">What is recorded: your ratings, the order in which the playlists were shown, the
time of each answer and, if you choose to give them, your age group, gender, musical training
and daily listening hours. You are identified only by a random id kept in a browser cookie, so that you can
come back and continue. Nothing else about you or your computer is stored.</p>
<form method="post" action="/consent" class="box">
<label><input type="checkbox" name="consent" value="yes" required>
I have read the above and agree to take part; my anonymous answers may be published for
research.</label>
<p><button type="submit">Start</button></p>
</form>
"""
    + _FOOT
)

REFERENCE_PAGE = (
    _HEAD
    + """<p class="note">Reference {{ step }} of {{ n_refs }}
<progress max="{{ n_refs }}" value="{{ done }}">{{ done }} of {{ n_refs }}</progress></p>
<h1>If you liked how this track sounds…</h1>
<div class="box reference" data-reference="{{ ref }}">
<audio controls preload="metadata" src="/audio/{{ ref | urlencode }}#t={{ '%.1f' % window[0] }},{{ '%.1f' % window[1] }}"></audio>
</div>
<p>…how similar does each playlist sound to it? (0 = not similar, 3 = very similar)</p>
<form method="post" action="/submit">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="reference" value="{{ ref }}">
{% for pl in lists %}
<div class="box playlist" data-position="{{ pl.position }}">
<h2>Playlist {{ pl.position }}</h2>
<div class="tracks">
{% for t in pl.tracks %}<audio controls preload="metadata" src="/audio/{{ t.id | urlencode }}#t={{ '%.1f' % t.window[0] }},{{ '%.1f' % t.window[1] }}"></audio>
{% endfor %}</div>
<div class="scale">{% for value, label in scale %}
<label><input type="radio" name="rating-{{ pl.position }}" value="{{ value }}"> {{ value }} {{ label }}</label>
{% endfor %}</div>
</div>
{% endfor %}
<p><label><input type="checkbox" name="skip" value="yes"> I am not familiar with this genre
(skip this reference)</label></p>
<p><button type="submit">Submit and continue</button></p>
</form>
"""
    + _FOOT
)

DEMOGRAPHICS_PAGE = (
    _HEAD
    + """<p class="note">All {{ n_refs }} references done.
<progress max="{{ n_refs }}" value="{{ n_refs }}"></progress></p>
<h1>A few questions about you (optional)</h1>
<p>Every question may be left blank.</p>
<form method="post" action="/demographics">
<input type="hidden" name="token" value="{{ token }}">
{% for key, options in questions.items() %}
<div class="box"><label>{{ {"age_group": "Age group", "gender": "Gender",
"musical_training": "Musical training", "listening_hours": "Hours of music listening per day"}[key] }}
<select name="{{ key }}"><option value="">(prefer not to say)</option>
{% for o in options %}<option value="{{ o }}">{{ o }}</option>{% endfor %}
</select></label></div>
{% endfor %}
<p><button type="submit">Finish</button></p>
</form>
"""
    + _FOOT
)

THANKS_PAGE = (
    _HEAD
    + """<h1>Thank you!</h1>
<p>{% if n_skipped %}Your answers are saved: {{ n_refs - n_skipped }} of {{ n_refs }} references
rated, {{ n_skipped }} skipped.{% else %}Your answers to all {{ n_refs }} references are
saved.{% endif %} You may close this tab.</p>
"""
    + _FOOT
)

ERROR_PAGE = (
    _HEAD
    + """<div class="box error"><h1>{{ code }}</h1><p class="message">{{ message }}</p>
<p><a href="/">Back to the study</a></p></div>
"""
    + _FOOT
)
