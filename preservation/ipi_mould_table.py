"""IPI's published days to mould germination: the table of the Dew Point Calculator.

The Image Permanence Institute's Dew Point Calculator (dpcalc.org, script ``dp.js``, function
``mold(t, rh)``) reports the days until mould spores germinate at a constant temperature and
relative humidity from one table: whole degrees 2…45 °C by whole percent 65…100 %RH, read at
the inputs rounded half up (JavaScript ``Math.round``), 0 meaning "no risk"; inputs above
45 °C, below 2 °C or below 65 %RH are no risk without a look-up.

These are IPI's published values (facts, cited; no code of IPI's is used), transcribed from the
tables the ``preservationeval`` package (github.com/petter-b/preservationeval) generates from
``dp.js``: ``src/preservationeval/main/tables.py`` at commit b172c93 (18 Nov 2024),
``mold_table``, 44 × 36 values with offsets 2 °C and 65 %RH. They agree with the IPI values
quoted elsewhere: 20 °C/80 % 14 days, 10 °C/85 % 9, 5 °C/90 % 9 (issue 8); 20 °C/70 % 165,
28 °C/74 % 46, 33 °C/80 % 13, 44 °C/97 % 5 (``preservationeval``'s validated dpcalc cases).

The table's shape: a no-risk threshold RH_min(T) of 90 % at 2 °C and at 45 °C that falls to
66 % at 24–31 °C (65 % only at 28 °C, whose 1186 days is the one value of the 65 % column),
and germination fastest around 25–34 °C — the days are not monotonic in temperature. Along
every temperature they never rise with RH.
"""

from __future__ import annotations

from typing import Final

IPI_MOULD_T_MIN_C: Final = 2
"""Temperature of the table's first row [°C]."""
IPI_MOULD_T_MAX_C: Final = 45
"""Temperature of the table's last row [°C]."""
IPI_MOULD_RH_MIN_PCT: Final = 65
"""Relative humidity of the table's first column [%]."""

# Days to germination; "-" is no risk. Two halves of one table, by RH [%].
_LOW_RH = """
  °C |   65   66   67   68   69   70   71   72   73   74   75   76   77   78   79   80   81   82
    2 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    3 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    4 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    5 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    6 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    7 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    8 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
    9 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -   15
   10 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -   19   16   14
   11 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -   21   18   15   13
   12 |    -    -    -    -    -    -    -    -    -    -    -    -    -   25   20   17   14   12
   13 |    -    -    -    -    -    -    -    -    -    -    -    -   29   24   20   16   14   12
   14 |    -    -    -    -    -    -    -    -    -    -   44   35   28   23   19   16   13   11
   15 |    -    -    -    -    -    -    -    -    -   55   43   34   27   22   18   15   13   11
   16 |    -    -    -    -    -    -    -    -   71   54   42   33   26   21   18   15   12   11
   17 |    -    -    -    -    -    -    -   92   69   53   41   32   26   21   17   14   12   10
   18 |    -    -    -    -    -    -  123   90   67   51   40   31   25   21   17   14   12   10
   19 |    -    -    -    -    -  168  121   88   66   50   39   31   25   20   17   14   12   10
   20 |    -    -    -    -  236  165  119   87   65   50   38   30   24   20   16   14   11   10
   21 |    -    -    -  340  232  163  117   86   64   49   38   30   24   19   16   13   11   10
   22 |    -    -    -  335  229  161  115   85   63   48   37   30   24   19   16   13   11   10
   23 |    -    -  498  332  227  159  114   84   63   48   37   29   23   19   16   13   11    9
   24 |    -  763  493  328  225  157  113   83   62   47   37   29   23   19   16   13   11    9
   25 |    -  756  489  326  223  156  112   82   61   47   36   29   23   19   15   13   11    9
   26 |    -  751  486  323  221  155  111   81   61   46   36   28   23   19   15   13   11    9
   27 |    -  747  483  322  220  154  111   81   61   46   36   28   23   18   15   13   11    9
   28 | 1186  744  481  320  219  154  110   81   60   46   36   28   23   18   15   13   11    9
   29 |    -  742  480  320  219  153  110   81   60   46   36   28   23   18   15   13   11    9
   30 |    -  742  480  319  218  153  110   80   60   46   36   28   23   18   15   13   11    9
   31 |    -  742  480  320  219  153  110   81   60   46   36   28   23   18   15   13   11    9
   32 |    -    -  482  321  219  154  110   81   60   46   36   28   23   18   15   13   11    9
   33 |    -    -  484  322  220  154  111   81   61   46   36   28   23   18   15   13   11    9
   34 |    -    -    -  325  222  156  112   82   61   47   36   29   23   19   15   13   11    9
   35 |    -    -    -    -  224  157  113   83   62   47   37   29   23   19   16   13   11    9
   36 |    -    -    -    -    -  160  114   84   63   48   37   29   23   19   16   13   11    9
   37 |    -    -    -    -    -    -    -   86   64   49   38   30   24   19   16   13   11   10
   38 |    -    -    -    -    -    -    -    -   66   50   39   31   25   20   16   14   12   10
   39 |    -    -    -    -    -    -    -    -    -    -   40   32   25   21   17   14   12   10
   40 |    -    -    -    -    -    -    -    -    -    -    -    -   27   22   18   15   13   11
   41 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -   19   16   14   12
   42 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -   13
   43 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
   44 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
   45 |    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -    -
"""
_HIGH_RH = """
  °C |   83   84   85   86   87   88   89   90   91   92   93   94   95   96   97   98   99  100
    2 |    -    -    -    -    -    -    -   23   21   19   18   17   16   15   14   13   12   12
    3 |    -    -    -    -    -    -   16   15   14   13   12   11   10   10    9    9    8    8
    4 |    -    -    -    -    -   13   12   11   10    9    9    8    8    7    7    6    6    6
    5 |    -    -    -    -   12   11   10    9    8    8    7    7    6    6    5    5    5    5
    6 |    -    -    -   12   10    9    8    8    7    7    6    6    5    5    5    4    4    4
    7 |    -   13   12   10    9    8    7    7    6    6    5    5    5    4    4    4    4    4
    8 |   14   12   10    9    8    7    7    6    6    5    5    5    4    4    4    4    3    3
    9 |   13   11   10    9    8    7    6    6    5    5    4    4    4    4    3    3    3    3
   10 |   12   10    9    8    7    6    6    5    5    4    4    4    4    3    3    3    3    3
   11 |   11   10    8    8    7    6    5    5    5    4    4    4    3    3    3    3    3    3
   12 |   11    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    3    3
   13 |   10    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    3    2
   14 |   10    9    7    7    6    5    5    4    4    4    3    3    3    3    3    3    2    2
   15 |    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    2    2    2
   16 |    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    2    2    2
   17 |    9    8    7    6    5    5    4    4    4    3    3    3    3    3    2    2    2    2
   18 |    9    8    7    6    5    5    4    4    4    3    3    3    3    3    2    2    2    2
   19 |    9    8    7    6    5    5    4    4    4    3    3    3    3    3    2    2    2    2
   20 |    8    7    6    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2
   21 |    8    7    6    6    5    5    4    4    3    3    3    3    3    2    2    2    2    2
   22 |    8    7    6    6    5    4    4    4    3    3    3    3    3    2    2    2    2    2
   23 |    8    7    6    6    5    4    4    4    3    3    3    3    3    2    2    2    2    2
   24 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   25 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   26 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   27 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   28 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   29 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   30 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   31 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   32 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   33 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   34 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   35 |    8    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2    2
   36 |    8    7    6    6    5    4    4    4    3    3    3    3    3    2    2    2    2    2
   37 |    8    7    6    6    5    5    4    4    3    3    3    3    3    2    2    2    2    2
   38 |    9    7    7    6    5    5    4    4    4    3    3    3    3    2    2    2    2    2
   39 |    9    8    7    6    5    5    4    4    4    3    3    3    3    3    2    2    2    2
   40 |    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    2    2    2
   41 |   10    9    8    7    6    5    5    5    4    4    4    3    3    3    3    3    2    2
   42 |   11   10    9    8    7    6    6    5    5    4    4    4    3    3    3    3    3    3
   43 |    -   12   10    9    8    7    7    6    6    5    5    4    4    4    4    3    3    3
   44 |    -    -    -    -   12   10    9    9    8    7    7    6    6    6    5    5    5    4
   45 |    -    -    -    -    -    -    -   23   21   19   18   17   16   15   14   13   12   12
"""


def _parse(text: str) -> list[list[int]]:
    rows = []
    for line in text.strip().splitlines()[1:]:
        cells = line.split("|")[1].split()
        rows.append([0 if cell == "-" else int(cell) for cell in cells])
    return rows


IPI_DAYS_TO_MOULD: Final[tuple[tuple[int, ...], ...]] = tuple(
    tuple(low + high) for low, high in zip(_parse(_LOW_RH), _parse(_HIGH_RH), strict=True)
)
"""Days to germination, ``IPI_DAYS_TO_MOULD[T − 2][RH − 65]`` for whole T [°C] and RH [%];
0: no risk."""
