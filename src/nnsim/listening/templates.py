"""Pages of the listening test (Jinja, autoescaped).

The pages work without scripts; one small same-origin script (``/static/listening.js``, no
inline code) pauses the other players when one starts and keeps unsubmitted ratings over a
reload.
"""

from __future__ import annotations

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin: 0; }
.box { border: 1px solid #ccc; border-radius: 6px; padding: .8rem 1rem; margin: .8rem 0; min-width: 0; }
.reference { background: #f3f6fb; }
fieldset { min-width: 0; }
fieldset.playlist > legend { padding: 0 .3rem; }
.tracks { list-style: none; padding: 0; margin: .4rem 0 .6rem; }
.tracks li { margin: .3rem 0; }
.track-label { display: block; font-size: .85rem; color: #555; }
audio { display: block; width: 100%; min-width: 0; height: 3rem; }
.scale { border: 0; padding: 0; margin: .4rem 0 0; }
.scale legend { padding: 0; font-weight: 600; }
.options { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: .3rem; margin-top: .3rem; }
.options label { display: flex; flex-direction: column; align-items: center; justify-content: center;
                 min-height: 3.5rem; padding: .3rem .2rem; border: 1px solid #999; border-radius: 6px;
                 text-align: center; cursor: pointer; font-size: .9rem; line-height: 1.15; }
.options input { width: 1.5rem; height: 1.5rem; margin: 0 0 .15rem; }
.options label:has(input:checked) { background: #dbe7f7; border-color: #005a9c; }
.options label:has(input:focus-visible) { outline: 3px solid #ffbf47; }
.missing { border-color: #b00020; border-width: 2px; }
.missing-note { color: #b00020; font-weight: 600; margin: .2rem 0; }
.actions { display: flex; flex-wrap: wrap; gap: .6rem; }
button { font-size: 1rem; padding: .45rem 1.2rem; min-height: 2.75rem; }
button.secondary { background: #fff; border: 1px solid #767676; }
input[type=checkbox] { width: 1.4rem; height: 1.4rem; vertical-align: middle; }
select { font-size: 1rem; min-height: 2.75rem; }
.note { color: #555; font-size: .92rem; }
.simulated { color: #a00; font-weight: bold; }
.error { border-color: #b00020; background: #fff3f3; }
.code { font-size: 1.4rem; font-family: ui-monospace, monospace; letter-spacing: .05em; }
progress { width: 12rem; max-width: 40vw; vertical-align: middle; }
</style></head><body><main>
"""
_FOOT = "</main></body></html>\n"

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
come back and continue{% if platform_id %}, and by the id the study platform gave you, so that it
can credit you{% endif %}. Nothing else about you or your computer is stored.</p>
<form method="post" action="/consent" class="box">
{% if platform_id %}<input type="hidden" name="platform_id" value="{{ platform_id }}">{% endif %}
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
{% if missing %}<div class="box error" role="alert" id="form-error"><p>Please rate
{% if missing | length == 1 %}playlist {{ missing[0] }}{% else %}playlists
{{ missing | join(", ") }}{% endif %} (0–3) before you continue, or skip this reference. Your
other ratings are kept below.</p></div>{% endif %}
<form method="post" action="/submit" id="rating-form" data-draft="{{ token }}:{{ ref }}">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="reference" value="{{ ref }}">
<section class="box reference" data-reference="{{ ref }}" aria-labelledby="reference-h">
<h2 id="reference-h">Reference track</h2>
<audio controls preload="metadata" aria-label="Reference track" src="/audio/{{ ref | urlencode }}#t={{ '%.1f' % window[0] }},{{ '%.1f' % window[1] }}"></audio>
</section>
<p>…how similar does each playlist sound to it? 0 = {{ scale[0][1] }}, 1 = {{ scale[1][1] }},
2 = {{ scale[2][1] }}, 3 = {{ scale[3][1] }}.</p>
{% for pl in lists %}
<fieldset class="box playlist{% if pl.position in missing %} missing{% endif %}" data-position="{{ pl.position }}">
<legend><h2>Playlist {{ pl.position }}</h2></legend>
<ol class="tracks">
{% for t in pl.tracks %}<li><span class="track-label" aria-hidden="true">Track {{ loop.index }}</span><audio controls preload="metadata" aria-label="Playlist {{ pl.position }}, track {{ loop.index }}" src="/audio/{{ t.id | urlencode }}#t={{ '%.1f' % t.window[0] }},{{ '%.1f' % t.window[1] }}"></audio></li>
{% endfor %}</ol>
<fieldset class="scale"{% if pl.position in missing %} aria-describedby="missing-{{ pl.position }}"{% endif %}>
<legend>How similar does playlist {{ pl.position }} sound to the reference?</legend>
{% if pl.position in missing %}<p class="missing-note" id="missing-{{ pl.position }}">Playlist {{ pl.position }} is not rated yet.</p>{% endif %}
<div class="options">{% for value, label in scale %}
<label><input type="radio" name="rating-{{ pl.position }}" value="{{ value }}" required{% if given.get(pl.position) == value %} checked{% endif %}> {{ value }}<span>{{ label }}</span></label>
{% endfor %}</div>
</fieldset>
</fieldset>
{% endfor %}
<div class="actions">
<button type="submit" name="action" value="submit">Submit and continue</button>
<button type="submit" name="action" value="skip" formnovalidate class="secondary" aria-describedby="skip-note">Skip this reference</button>
</div>
<p class="note" id="skip-note">Skip if you do not know this kind of music; ratings of this reference are then not kept.</p>
</form>
<script src="/static/listening.js"></script>
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
saved.{% endif %}</p>
{% if code %}<div class="box"><p>Your completion code:</p>
<p class="code" id="completion-code">{{ code }}</p>
{% if completion_url %}<p><a href="{{ completion_url }}">Return to the study platform</a> (it
takes the code from this link).</p>{% else %}<p>Give this code to the platform you came from, if
it asks for one.</p>{% endif %}</div>{% endif %}
<p>You may close this tab.</p>
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
