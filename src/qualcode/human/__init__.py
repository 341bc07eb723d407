"""People's coding: importing it (CSV, REFI-QDA), aligning it to sentences, comparing it with the
automatic coding (agreement), and exporting the project for other QDA tools.
"""
