"""Tracking a rotation under way (``rotasim track``): the rotation log, the state the console exports show,
the forecast from that state, and what the returns seen between exports say about time away.

Modules: ``log`` (the steps done and when, and the calendar), ``plan`` (the steps as done and still to come,
as the world replays them), ``observed`` (exports -> who holds what), ``start`` (an observed state -> the
engines' initial state and a fleet whose absences are conditioned on their age), ``forecast`` (replications
from now, adoption, orphans against the date of the decisive change, the verdict), ``survival`` (returns
between exports as censored data), ``worklist`` (the files a team works from).
"""
