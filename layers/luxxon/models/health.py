from typing import Literal

from luxxon.models.base import Dto


class LxHealthDto(Dto):
    status: Literal["ok"]
